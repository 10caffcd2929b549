# XCL Lab images: one Dockerfile, one target per role.
#
#   api        the REST API (`xclab serve`); docker-compose.yml also runs the `xclab db upgrade` job with it
#   worker     a Celery worker with PyTorch (`xclab worker`)
#   dashboard  the Streamlit dashboard (`xclab dashboard`)
#
# docker-compose.yml builds all three. By hand: `docker build --target worker -t xclab-worker .`
#
# Every role runs as the non-root user `xclab` (uid 10001) with XCL_HOME=/data; /data/artifacts and /data/tokens are
# created here so that named volumes mounted there start out owned by that user (tokens: by it alone).

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    XCL_HOME=/data
RUN groupadd --system --gid 10001 xclab \
    && useradd --system --uid 10001 --gid xclab --create-home --home-dir /home/xclab --shell /usr/sbin/nologin xclab \
    && mkdir -p /data/artifacts /data/tokens \
    && chown -R xclab:xclab /data \
    && chmod 700 /data/tokens
WORKDIR /app


# One requirements file per extra (core dependencies plus that extra), read from pyproject.toml. The role images
# install these before copying the source, so editing code does not reinstall dependencies.
FROM base AS requirements
COPY pyproject.toml ./
RUN mkdir /requirements \
    && python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; [open(f'/requirements/{extra}.txt', 'w').write('\n'.join(p['dependencies'] + deps) + '\n') for extra, deps in p['optional-dependencies'].items()]"


FROM base AS api
COPY --from=requirements /requirements/backend.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt
COPY . .
# Editable, so that `xclab` finds dashboard/ and migrations/ next to the package in /app.
RUN pip install --no-deps -e .
USER xclab
EXPOSE 8000
CMD ["xclab", "serve", "--host", "0.0.0.0", "--port", "8000"]


FROM base AS worker
# PyTorch first, in its own layer (it is by far the largest). The default index is PyPI, whose Linux wheels bundle
# CUDA, so the same image serves docker-compose.gpu.yml. For a much smaller CPU-only image, build with
#   --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# These pins must equal the worker extra in pyproject.toml (tests/test_compose.py checks that they do).
ARG TORCH_INDEX_URL=https://pypi.org/simple
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.14.1 torchvision==0.29.1
COPY --from=requirements /requirements/worker.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt
COPY . .
RUN pip install --no-deps -e .
USER xclab
CMD ["xclab", "worker", "--queues", "cpu,gpu", "--concurrency", "1"]


FROM base AS dashboard
COPY --from=requirements /requirements/dashboard.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt
COPY . .
RUN pip install --no-deps -e .
USER xclab
EXPOSE 8501
CMD ["xclab", "dashboard", "--port", "8501"]
