"""Page routes: /kiosk/, /room/, /ops/, /revoke/."""
