//! The engine's door to [`berth_network`]: the networks of the engine's state root, and the
//! methods the CLI, the builder and the supervisor call on [`Engine`], each handing over to
//! [`Networks`] (which knows nothing of containers; the container side is
//! [`crate::container::net`]).

use crate::{Engine, Result};
use berth_network::firewall::Firewall;
use berth_network::{AttachRequest, Attached, Endpoint, Network, NetworkCreate, NetworkOpts, Networks, Sandbox};
use std::path::PathBuf;

impl Engine {
    /// The networks of this state root, on this host.
    pub fn networks(&self) -> Networks {
        Networks::open(self.root(), crate::DEFAULT_ROOT)
    }

    /// `<root>/network`.
    pub fn network_dir(&self) -> PathBuf {
        self.networks().dir()
    }

    /// Where berth pins the network namespaces it makes: `<root>/netns/<id>`.
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.networks().netns_path(id)
    }

    /// The nftables table (or iptables chain prefix) of this root.
    pub fn firewall(&self) -> Firewall {
        self.networks().firewall()
    }

    /// Finds a network by name, full id or unique id prefix (`default` = `bridge`).
    pub fn find_network(&self, s: &str) -> Result<Network> {
        Ok(self.networks().find(s)?)
    }

    /// Every sandbox record (live or stale).
    pub fn sandboxes(&self) -> Result<Vec<Sandbox>> {
        Ok(self.networks().sandboxes()?)
    }

    /// The sandbox of a container, if it has one.
    pub fn sandbox(&self, container_id: &str) -> Result<Option<Sandbox>> {
        Ok(self.networks().sandbox(container_id)?)
    }

    /// Number of address leases held in this root (all networks).
    pub fn lease_count(&self) -> usize {
        self.networks().lease_count()
    }

    /// `network create`.
    pub fn network_create(&self, name: &str, o: &NetworkCreate) -> Result<Network> {
        Ok(self.networks().create(name, o)?)
    }

    /// `network ls`: the predefined networks and every user-defined one.
    pub fn network_ls(&self) -> Result<Vec<Network>> {
        Ok(self.networks().list()?)
    }

    /// `network inspect`: Docker's document.
    pub fn network_inspect(&self, name: &str) -> Result<serde_json::Value> {
        Ok(self.networks().inspect(name)?)
    }

    /// `network rm`: refused for predefined networks and while containers use it.
    pub fn network_rm(&self, name: &str) -> Result<()> {
        Ok(self.networks().remove(name)?)
    }

    /// `network prune`: removes the user-defined networks no container uses.
    pub fn network_prune(&self) -> Result<Vec<String>> {
        Ok(self.networks().prune()?)
    }

    /// Removes every network of this root (see [`Networks::reset`]).
    pub fn network_reset(&self, force: bool) -> Result<()> {
        Ok(self.networks().reset(force)?)
    }

    /// Tears down what dead owners left (see [`Networks::reconcile`]).
    pub fn network_reconcile(&self) -> Result<()> {
        Ok(self.networks().reconcile()?)
    }

    /// Connects a network namespace to a network (see [`Networks::attach`]).
    pub fn attach(&self, req: &AttachRequest) -> Result<Attached> {
        Ok(self.networks().attach(req)?)
    }

    /// Adds a network to a live sandbox (`network connect`).
    pub fn attach_network(&self, container_id: &str, o: &NetworkOpts) -> Result<Endpoint> {
        Ok(self.networks().attach_network(container_id, o)?)
    }

    /// Removes one network from a live sandbox (`network disconnect`).
    pub fn detach_network(&self, container_id: &str, network: &str) -> Result<()> {
        Ok(self.networks().detach_network(container_id, network)?)
    }

    /// Tears down a container's sandbox; missing is fine.
    pub fn detach(&self, container_id: &str) -> Result<()> {
        Ok(self.networks().detach(container_id)?)
    }
}
