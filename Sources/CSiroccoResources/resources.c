// Finding the archive of resources (see include/CSiroccoResources.h).

#include "CSiroccoResources.h"

extern const uint64_t sirocco_resources[2] __attribute__((weak));

void sirocco_resource_archive(const uint8_t **bytes, uint64_t *length) {
  const uint64_t *table = sirocco_resources;
  if (!table) {
    *bytes = 0;
    *length = 0;
    return;
  }
  *bytes = (const uint8_t *)table + table[0];
  *length = table[1];
}
