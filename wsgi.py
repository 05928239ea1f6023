"""What gunicorn serves: ``gunicorn wsgi:app``. Reads ``.env`` if there is one."""

from dotenv import load_dotenv

from billing_service import create_app

load_dotenv()
app = create_app()
