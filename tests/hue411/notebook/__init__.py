"""Test-only stand-in for Hue's ``notebook`` lib (desktop/libs/notebook); it has no models here."""
