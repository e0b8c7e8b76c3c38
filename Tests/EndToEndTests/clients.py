#!/usr/bin/env python3
"""Opens N TCP connections to HOST:PORT at once (the Linux stack's sockets), sends a distinct
message on each, checks every echo, and prints 'N ok'. Bounded: gives up after 60 s."""
import selectors, socket, sys, time

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
selector = selectors.DefaultSelector()
pending = {}
for index in range(count):
    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    connection.setblocking(False)
    connection.connect_ex((host, port))
    message = f"connection {index:05d} says hello\n".encode()
    pending[connection] = [message, b"", False]
    selector.register(connection, selectors.EVENT_WRITE | selectors.EVENT_READ)
done = 0
deadline = time.monotonic() + 60
while pending and time.monotonic() < deadline:
    for key, events in selector.select(timeout=1):
        connection = key.fileobj
        state = pending[connection]
        if events & selectors.EVENT_WRITE and not state[2]:
            try:
                connection.send(state[0])
                state[2] = True
                selector.modify(connection, selectors.EVENT_READ)
            except (BlockingIOError, InterruptedError):
                pass
            continue
        if events & selectors.EVENT_READ:
            try:
                data = connection.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            state[1] += data
            if state[1] == state[0]:
                selector.unregister(connection)
                connection.close()
                del pending[connection]
                done += 1
            elif not data or not state[0].startswith(state[1]):
                print(f"bad echo: {state[1]!r}", file=sys.stderr)
                sys.exit(1)
print(f"{done} ok")
sys.exit(0 if done == count else 1)
