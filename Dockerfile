# rooms: a non-editable install of the built wheel, run as an unprivileged user.
#   docker build -t rooms .        (compose.yaml builds it for you)
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir hatchling
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
COPY static ./static
COPY migrations ./migrations
# the wheel maps templates/, static/ and migrations/ into rooms/_assets (pyproject.toml)
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VAR_DIR=/var/lib/rooms
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/rooms-*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /var/lib/rooms --create-home rooms
USER rooms
WORKDIR /var/lib/rooms
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["rooms", "serve", "--host", "0.0.0.0", "--port", "8000"]
