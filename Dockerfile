# The dockyard operator image: a build stage installs the wheels into a venv, a slim
# runtime stage copies only the venv and runs as a non-root user.
#
#   Here (no registry can be pulled from):  scripts/operator-image.sh
#     builds dockyard.local/python:3.11 from this machine's Python over the local
#     busybox base image, collects the wheels, then builds this file with
#     --build-arg PYTHON_IMAGE=dockyard.local/python:3.11.
#   Elsewhere: collect the wheels and build from an official Python image:
#     pip wheel --wheel-dir build/operator-image/wheels . pip
#     docker build -f Dockerfile --build-arg PYTHON_IMAGE=python:3.11-slim \
#       -t dockyard-operator:0.1.0 build/operator-image
#   (python:3.12-slim, python:3.11-slim-bookworm or a distroless/chainguard Python
#   image work the same way: the build stage needs /bin/sh, the runtime stage does not.)
#
# The build context holds wheels/ (dockyard, its dependencies and pip).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
COPY wheels/ /wheels/
# pip runs from its own wheel: the base image needs no pip, and nothing is downloaded.
RUN python3 -m venv --without-pip /opt/dockyard \
 && PIP="$(ls /wheels/pip-*.whl)/pip" \
 && /opt/dockyard/bin/python3 "$PIP" install --no-index --no-cache-dir \
      --find-links /wheels --disable-pip-version-check --quiet dockyard \
 && /opt/dockyard/bin/dockyard version \
 && mkdir -p /out/etc \
 && { cat /etc/passwd; echo "dockyard:x:65532:65532:dockyard:/tmp:/sbin/nologin"; } > /out/etc/passwd \
 && { cat /etc/group; echo "dockyard:x:65532:"; } > /out/etc/group

FROM ${PYTHON_IMAGE} AS runtime
COPY --from=build /opt/dockyard /opt/dockyard
# A name for uid 65532 (libraries ask for the user's name and home).
COPY --from=build /out/etc/passwd /out/etc/group /etc/
ENV PATH=/opt/dockyard/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
LABEL org.opencontainers.image.title="dockyard-operator" \
      org.opencontainers.image.source="manifests/ and docs/kubernetes.md"
# Non-root (the Deployment also sets runAsNonRoot / runAsUser 65532).
USER 65532:65532
EXPOSE 9129
ENTRYPOINT ["/opt/dockyard/bin/dockyard"]
CMD ["operator", "--listen=0.0.0.0:9129", "--state-dir=/var/lib/dockyard/operator"]
