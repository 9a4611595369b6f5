# The production image: Hypercorn under myservice.supervisor, one worker per container.
# Scale with replicas. The same image migrates the database (the package holds the migrations):
#   docker build -t myservice .
#   docker run --rm -e MYSERVICE_DATABASE_URL=postgresql://... myservice alembic upgrade head
#   docker run --rm -p 8000:8000 -e MYSERVICE_DATABASE_URL=postgresql://... myservice
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/venv/bin:$PATH
RUN python -m venv /venv
WORKDIR /src
# The pinned dependencies get their own layer, rebuilt only when requirements.txt changes.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY setup.py pyproject.toml ./
COPY myservice/ myservice/
RUN pip install --no-cache-dir --no-deps .

FROM ${PYTHON_IMAGE}
# A numeric user, so that Kubernetes' runAsNonRoot can check it.
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent myservice
COPY --from=builder /venv /venv
WORKDIR /app
# `alembic upgrade head` runs from here (the Kubernetes Job, compose.yaml's migrate).
COPY alembic.ini settings.prod.yml ./
# WORKERS=1 serves in Hypercorn's own process, so SIGTERM reaches the app and /readyz fails first.
ENV PATH=/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    QUART_SETTINGS=/app/settings.prod.yml \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=1
USER 10001:10001
EXPOSE 8000
# slim has no curl; urlopen raises (exit 1) on a refused connection or a non-2xx answer.
# Routes answer under ROOT_PATH when it is set (see README.md "Deploy").
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}{os.environ.get('ROOT_PATH', '')}/healthz\", timeout=2)"]
CMD ["python", "-m", "myservice.supervisor", "myservice:create_app()"]
