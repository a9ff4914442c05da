# Unified Assistant: one image for `ua serve` and `ua worker`.
FROM python:3.12-slim-bookworm

# WeasyPrint needs Pango (and HarfBuzz subsetting for small PDFs); fonts for PDF text.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 ua
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY collab ./collab
COPY ai ./ai
COPY storage ./storage
RUN pip install --no-cache-dir . && mkdir -p /data /exports && chown ua /data /exports

USER ua
ENV HOST=0.0.0.0 PORT=8000 DATA_DIR=/data ENV=production
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["ua", "serve"]
