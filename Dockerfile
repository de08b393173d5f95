# tiegraph worker and API image (the engines run from their own images in docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
ENV TIEGRAPH_KAFKA_BOOTSTRAP=kafka:9092 \
    TIEGRAPH_NEO4J_URI=bolt://neo4j:7687
EXPOSE 8000 6066
CMD ["tiegraph", "worker"]
