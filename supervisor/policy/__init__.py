"""The admission policy: eligible or not, and every reason why."""

from .admission import AdmissionPolicy as AdmissionPolicy
from .config import PolicyConfig as PolicyConfig
from .reasons import Decision as Decision
from .reasons import Phase as Phase
from .reasons import Reason as Reason
