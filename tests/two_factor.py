"""Second factors for tests: enrol a user with an authenticator app, and compute the code the app
would show now, with django-otp's own TOTP function."""

import time

from django_otp.oath import totp

from reseller.core.models import AuthenticatorApp


def enrol(user) -> AuthenticatorApp:
    """A confirmed authenticator app for `user`, as if they had scanned the QR code."""
    return AuthenticatorApp.objects.create(user=user, name="Authenticator app", confirmed=True)


def current_code(device: AuthenticatorApp) -> str:
    """The code the person's app shows now. A code is accepted once (django-otp remembers the last
    time step used), so right after one was used this is the next step's code, which the device's
    tolerance of one step accepts too."""
    device.refresh_from_db()
    now_step = (int(time.time()) - device.t0) // device.step
    drift = max(0, device.last_t + 1 - now_step)
    code = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + drift)
    return str(code).zfill(device.digits)
