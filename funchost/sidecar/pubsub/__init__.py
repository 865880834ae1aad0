"""The pub/sub building block: the broker interface, its brokers, and (subsystem.py) the API.

`PubSubSubsystem` lives in `subsystem.py` (it needs the resources loader, which needs this
package's registry).
"""

from .broker import Broker, BrokerContext, BrokerFactory, Row
from .registry import BROKERS

__all__ = ["BROKERS", "Broker", "BrokerContext", "BrokerFactory", "Row"]
