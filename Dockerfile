# Herald's image: the runtime dependencies only (no test or benchmark extras). One image runs every role;
# the command picks it (compose.yaml): `herald migrate`, `herald serve --host 0.0.0.0 --no-worker`, `herald worker`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY adapters ./adapters
COPY tasks ./tasks
COPY graphql_schema ./graphql_schema
COPY mcp_tools ./mcp_tools
COPY rest_api ./rest_api
COPY migrations ./migrations
RUN pip install . && useradd --create-home --uid 10001 herald
USER herald
# The data directory only holds the SQLite file and key file of an embedded run; production uses PostgreSQL
# and HERALD_SECRET_KEYS, so nothing in it matters there.
ENV HERALD_DATA_DIR=/home/herald/data
EXPOSE 8000
CMD ["herald", "serve", "--host", "0.0.0.0", "--no-worker"]
