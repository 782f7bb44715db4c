"""Self detection: which member of a config is this process (mongod's isself.cpp and
findSelfInConfig, SEMANTICS.md section 4): a host:port whose port is ours and whose
address is bound here, or else a peer that answers _isSelf with our instance id.
"""

import asyncio
import socket


from .. import replconfig as rc
from ..errors import CommandError
from ..netclient import PeerError


class SelfDetectionMixin:
    """Finds this node in a config; results cached per host until the next config install."""

    def _init_self_detection(self):
        self._self_cache = {}             # host:port (lower case) -> whether it is this process

    # ================================================================ self detection
    async def _find_self(self, config):
        matches = []
        for index, member in enumerate(config["members"]):
            if await self._is_self(member["host"]):
                matches.append(index)
        if len(matches) > 1:
            hosts = [config["members"][i]["host"] for i in matches]
            version = rc.version_term_string(config["version"], config.get("term", -1))
            raise CommandError(93, "The hosts %s all map to this node in new configuration %s for replica set %s"
                               % (" and ".join(hosts), version, config["_id"]))
        return matches[0] if matches else None

    async def _is_self(self, host_port):
        key = host_port.lower()
        if key in self._self_cache:
            return self._self_cache[key]
        host, _sep, port = host_port.rpartition(":")
        host = host.strip("[]")
        result = False
        if int(port) == self.opts.port:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.run_in_executor(None, socket.getaddrinfo, host, None)
                addresses = {info[4][0] for info in infos}
            except OSError:
                addresses = set()
            bound = set(self.server.listening_addresses)
            any_bound = bool(bound & {"0.0.0.0", "::"})
            for address in addresses:
                if (address in bound or any_bound) and _address_is_local(address):
                    result = True
                    break
            if not result and addresses and any_bound is False:
                result = False
            if not result and addresses:
                result = await self._is_self_slow(host_port)
        self._self_cache[key] = result
        return result

    async def _is_self_slow(self, host_port):
        try:
            reply = await self.server.peers.command(host_port, "isself", {"_isSelf": 1}, 3.0)
        except (PeerError, CommandError):
            return False
        finally:
            self.server.peers.drop(host_port)
        return reply.get("ok") and reply.get("id") == self.server.instance_id


def _address_is_local(address):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
        return True
    except OSError:
        return False
