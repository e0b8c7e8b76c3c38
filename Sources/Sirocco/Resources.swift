// The files compiled into the image, as the application sees them.

extension Boot {
  /// The files of the application's `Resources` directory, which `sirocco build` compiles
  /// into the image (as ocaml-crunch does for MirageOS): read-only, under their paths there
  /// ("zones/example.org.zone"), read in place. Empty when the application has no
  /// `Resources` directory.
  public var resources: TarStore { TarStore.image }
}
