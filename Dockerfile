# reconciler in a container: the wheel that scripts/release-check (or `python -m build`) built
# into dist/, installed alone on a slim Python, run as a non-root user in /work.
#
#   scripts/release-check            # or: python -m build
#   docker build -t reconciler .
#   docker run --rm -v "$PWD:/work" -e SPLX_API_KEY reconciler plan
#
# docs/CONTAINER.md has more. Only dist/ is sent to the build (.dockerignore).
FROM python:3.12-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The built wheel, by its file name; exactly one must be there (an old one left in dist/
# would make it ambiguous which version the image holds). With the PostgreSQL extra, so that
# one image serves a file state and a shared one.
COPY dist/splx_reconciler-*-py3-none-any.whl /tmp/wheel/
RUN set -eu; \
    set -- /tmp/wheel/splx_reconciler-*-py3-none-any.whl; \
    if [ "$#" -ne 1 ]; then echo "expected one splx-reconciler wheel in dist/, found $#" >&2; exit 1; fi; \
    pip install "$1[postgres]"; \
    rm -rf /tmp/wheel; \
    reconciler --version

# Never root: the specs and the state are the user's files, mounted at /work.
RUN useradd --create-home --uid 10001 --user-group reconciler
USER reconciler
WORKDIR /work

ENTRYPOINT ["reconciler"]
CMD ["--help"]
