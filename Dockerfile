# thesiswatch: a slim image running as a non-root user; the database lives on a volume.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY rules rules
COPY storage storage
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]'

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 thesiswatch
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER thesiswatch
WORKDIR /home/thesiswatch
VOLUME ["/home/thesiswatch/data"]
ENV THESISWATCH_DATABASE_URL=sqlite:////home/thesiswatch/data/thesiswatch.db \
    PYTHONUNBUFFERED=1
ENTRYPOINT ["thesiswatch"]
CMD ["run"]
