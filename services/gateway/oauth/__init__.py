"""A framework-free OAuth 2.0 core: requests parsed from method, headers and body into typed
values or OAuth errors, and responses rendered as status, headers and body. One module per RFC
concern; the gateway's ASGI token endpoint and, later, sign-in and refresh build on it."""
