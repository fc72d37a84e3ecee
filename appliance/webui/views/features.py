"""The feature codes in force (profile and per-code overrides from the settings), for users and admin."""

from __future__ import annotations

import logging

from flask import Blueprint, render_template

from appliance.calls.features import FEATURES, FeatureCodeConflict, FeatureCodes
from appliance.webui import db as webdb
from appliance.webui.security import login_required

log = logging.getLogger(__name__)

bp = Blueprint("features", __name__, url_prefix="/features")

# The same keys pbxd reads (appliance.applications.feature_codes_from); not imported from there to keep
# the voicemail and prompt machinery out of the web workers.
PROFILE_KEY = "features.profile"
OVERRIDE_PREFIX = "feature."
PROFILE_NAMES = {"coovox": "CooVox", "3cx": "3CX", "portsip": "PortSIP"}


def codes_in_force() -> tuple[FeatureCodes | None, str | None]:
    """The code set pbxd uses, or None and the reason when the settings are unusable."""
    settings = webdb.settings().all()
    profile = settings.get(PROFILE_KEY, "coovox")
    overrides = {k[len(OVERRIDE_PREFIX):]: v for k, v in settings.items() if k.startswith(OVERRIDE_PREFIX)}
    try:
        return FeatureCodes(str(profile), overrides), None
    except FeatureCodeConflict as err:
        log.error("feature codes cannot be shown: %s", err)
        return None, str(err)


@bp.route("/", endpoint="index")
@login_required
def index():  # noqa: ANN201
    codes, problem = codes_in_force()
    dialled, in_call = [], []
    if codes is not None:
        for name, feature in FEATURES.items():
            code = codes.codes.get(name)
            if not code:
                continue
            row = {"code": code, "argument": feature.takes_argument, "description": feature.description}
            (in_call if feature.in_call else dialled).append(row)
    profile = PROFILE_NAMES.get(codes.profile, codes.profile) if codes else None
    return render_template("features/index.html", dialled=dialled, in_call=in_call, profile=profile,
                           problem=problem)
