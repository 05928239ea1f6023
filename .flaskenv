# Read by the `flask` command (python-dotenv). Secrets go in .env, never here.
FLASK_APP=billing_service
BILLING_ENV=development
