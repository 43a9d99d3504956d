# The `silkline` binary in an image built only from this repository's files: no base image is
# pulled (there is no registry to pull from). `scripts/docker-image` builds the release binary,
# copies it with exactly the shared libraries `ldd` names into docker-rootfs/, and builds this.
#
#   scripts/docker-image                      # -> image silkline:dev
#   docker run --rm silkline:dev --help
#   docker run -v "$PWD/devnet:/devnet" silkline:dev node run --config /devnet/nodes/node1/config.json
#
# A node's configuration names its data directory, certificates and genesis by path: mount the
# directory that holds them at the same path inside the container, or write the config with
# in-container paths.
FROM scratch
COPY docker-rootfs/ /
ENTRYPOINT ["/usr/local/bin/silkline"]
CMD ["--help"]
