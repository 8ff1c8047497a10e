"""The clinic-wide refill planner (pure core): who is refilled on which day by which nurse, over N weeks.

`plan_cpsat` (CP-SAT) and `plan_greedy` (earliest deadline first, the baseline) take the same inputs and return a
`Plan`; `check_plan` says in words what is wrong with a plan (empty: valid); `compare` puts two plans side by side.
"""

from openidds.planning.cpsat import plan_cpsat
from openidds.planning.greedy import plan_greedy
from openidds.planning.model import Booking, Need, NurseDay, Plan, Shortfall, check_plan, compare

__all__ = [
    "Booking",
    "Need",
    "NurseDay",
    "Plan",
    "Shortfall",
    "check_plan",
    "compare",
    "plan_cpsat",
    "plan_greedy",
]
