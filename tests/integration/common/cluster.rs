//! A three-node RabbitMQ cluster of a test's own on this machine, apart from the default
//! broker: each node a [`Node`] (own name, ports and directory), joined with `rabbitmqctl
//! join_cluster`. Every node is stopped and its directory removed when the cluster is dropped.

use super::node::Node;

/// Running nodes clustered together; the first is the one the others joined.
pub struct Cluster {
    /// The nodes, in the order their hosts appear in [`Cluster::transport_url`].
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Starts `size` nodes (at once, each in its own thread) and clusters them.
    pub fn start(size: usize) -> Cluster {
        let starting: Vec<_> = (0..size).map(|_| std::thread::spawn(Node::start)).collect();
        let nodes: Vec<Node> = starting
            .into_iter()
            .map(|t| t.join().expect("a node starts"))
            .collect();
        for node in &nodes[1..] {
            node.join_cluster(&nodes[0]);
        }
        let status = nodes[0].ctl_output(&["cluster_status", "--formatter", "json"]);
        let status: serde_json::Value = serde_json::from_str(&status).expect("JSON status");
        let running = status["running_nodes"].as_array().map_or(0, Vec::len);
        assert_eq!(running, size, "every node runs in the cluster: {status}");
        Cluster { nodes }
    }

    /// An oslo transport URL naming every node, in order.
    pub fn transport_url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("guest:guest@127.0.0.1:{}", n.port()))
            .collect();
        format!("rabbit://{}/", hosts.join(","))
    }
}
