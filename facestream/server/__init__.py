"""The websocket server that streams frames to game engines and browsers (server issue)."""
