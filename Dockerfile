# One image for web, worker, beat and the sandbox supplier; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY reseller reseller
COPY suppliers suppliers
COPY catalog catalog
COPY orders orders
COPY finance finance
COPY dashboard dashboard
COPY sandbox sandbox
RUN pip install .

COPY . .
# Static files are collected at build time with the production storage (hashed names, compressed);
# the throwaway values below exist only for this build step.
RUN DJANGO_SETTINGS_MODULE=reseller.settings.production \
    SECRET_KEY=build-only-secret-key-not-used-at-run-time-0000000 \
    FIELD_ENCRYPTION_KEYS=YnVpbGQtb25seS1rZXktbm90LXVzZWQtYXQtcnVudGk= \
    DATABASE_URL=postgres://build@localhost/build ALLOWED_HOSTS=build \
    EMAIL_URL=smtp://build@localhost \
    python manage.py collectstatic --noinput --verbosity 0 \
 && useradd --create-home --uid 1000 app && mkdir -p var && chown -R app var

USER app
EXPOSE 8000
CMD ["gunicorn", "--config", "reseller/gunicorn_conf.py", "reseller.wsgi"]
