# podpilot: a static binary on an empty (scratch) image, running as a non-root user, with no shell.
# Build: docker build --build-arg VERSION=$(git describe --tags --always) -t REGISTRY/podpilot:TAG .

# The build stage runs the Makefile's own build target, so the image holds exactly what `make build` makes.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN make build BIN=/out/podpilot VERSION=${VERSION}

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/podpilot /podpilot
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/podpilot"]
CMD ["run", "--config", "/etc/podpilot/config/config.yaml"]
