from services.cli import serve_only

serve_only("invites")
