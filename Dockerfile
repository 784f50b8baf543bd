# syntax=docker/dockerfile:1
# Both images of the project, from one build:
#   docker buildx build --target operator -t ghcr.io/bedrock-chatbot/operator:dev .
#   docker buildx build --target chatbot  -t ghcr.io/bedrock-chatbot/chatbot:dev .
# Dependencies are compiled in their own layer (cargo-chef), from the manifests and
# Cargo.lock only: a change in the project's code rebuilds only the project's crates.
# The final images are distroless (no shell, no package manager; CA certificates and
# glibc only) and run as the non-root user 65532.

ARG RUST_VERSION=1.95
ARG CARGO_CHEF_VERSION=0.1.78

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
ARG CARGO_CHEF_VERSION
WORKDIR /src
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"

# The dependency recipe: manifests and lockfile, with every source stubbed out.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# The operator is built with the release profile; the chat app with release-small
# (opt-level "s", fat LTO): it idles in less memory and serves as many streams per
# core (bench/results, README "Performance").
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --release --locked --recipe-path recipe.json \
      --package bedrock-chatbot-operator \
 && cargo chef cook --profile release-small --locked --recipe-path recipe.json \
      --package bedrock-chatbot
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked \
      --package bedrock-chatbot-operator --bin bedrock-chatbot-operator \
 && cargo build --profile release-small --locked \
      --package bedrock-chatbot --bin bedrock-chatbot \
 && install -D -m 0755 target/release/bedrock-chatbot-operator /out/bedrock-chatbot-operator \
 && install -D -m 0755 target/release-small/bedrock-chatbot /out/bedrock-chatbot

# The chat app the operator deploys to ECS Fargate (the CRD's default image).
FROM gcr.io/distroless/cc-debian12:nonroot AS chatbot
LABEL org.opencontainers.image.title="bedrock-chatbot" \
      org.opencontainers.image.description="Secure Amazon Bedrock chat app: ALB token verification, ConverseStream, hardened UI" \
      org.opencontainers.image.source="https://github.com/bedrock-chatbot/bedrock-chatbot-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/bedrock-chatbot /usr/local/bin/bedrock-chatbot
USER 65532:65532
EXPOSE 8501
# No shell and no curl in the image: the binary checks itself (GET /?health=check).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/bedrock-chatbot", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/bedrock-chatbot"]

# The operator (the Helm chart's Deployment runs `run`).
FROM gcr.io/distroless/cc-debian12:nonroot AS operator
LABEL org.opencontainers.image.title="bedrock-chatbot-operator" \
      org.opencontainers.image.description="Kubernetes operator for per-team secure Amazon Bedrock chatbots" \
      org.opencontainers.image.source="https://github.com/bedrock-chatbot/bedrock-chatbot-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/bedrock-chatbot-operator /usr/local/bin/bedrock-chatbot-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/bedrock-chatbot-operator"]
CMD ["run"]
