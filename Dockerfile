# hilo as a container: the API (`hilo serve`) or a run worker (`hilo worker`), same image.
# The default install needs no compiler (the in-process GGUF model, hilo[local], is not included).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HILO_HOST=0.0.0.0 HILO_PORT=8000 HILO_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY hilo ./hilo
RUN pip install . && useradd --system --uid 10001 --home-dir /data hilo && mkdir -p /data && chown hilo /data

USER hilo
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"
CMD ["hilo", "serve"]
