"""Swagger UI's own files (swagger-ui-dist, as the flask-swagger-ui package ships them),
served by the API itself for /docs, flask-smorest's Swagger UI page: the page works where
no CDN can be reached. Static files, public like /docs and /openapi.json."""

from importlib.resources import files

from flask import Blueprint

# Where /docs loads them from (flask-smorest's OPENAPI_SWAGGER_UI_URL).
URL = "/docs/swagger-ui/"

bp = Blueprint(
    "swagger-ui",
    __name__,
    static_folder=str(files("flask_swagger_ui") / "dist"),
    static_url_path=URL.rstrip("/"),
)
