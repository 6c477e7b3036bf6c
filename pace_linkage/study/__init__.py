"""What the feasibility study adds to linkage: sharing agreements, pseudonymisation, aggregate-only sharing,
what each partner holds, sharing scenarios and employers.

Each feature plugs into the pipeline through one :class:`pace_linkage.features.Feature` (its ingest hooks,
metrics and report sections); :data:`FEATURES` lists them, in the order their hooks run and their metrics
are added.
"""

from pace_linkage.study.aggregates import AGGREGATES_FEATURE
from pace_linkage.study.employer_links import EMPLOYERS
from pace_linkage.study.holdings import HOLDINGS_FEATURE
from pace_linkage.study.pseudonymise import PSEUDONYMISATION_FEATURE
from pace_linkage.study.sharing import SHARING

FEATURES = (SHARING, PSEUDONYMISATION_FEATURE, HOLDINGS_FEATURE, AGGREGATES_FEATURE, EMPLOYERS)

__all__ = ["FEATURES"]
