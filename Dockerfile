# kubegate webhook image. Not built by CI (this project's CI machine has no
# container engine); see deploy/README.md.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
USER 65532:65532
ENTRYPOINT ["kubegate"]
CMD ["serve", "--help"]
