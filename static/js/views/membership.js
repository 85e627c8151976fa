// Membership changes and leadership transfer on the page: the node-menu buttons, the
// configuration banner under the Cluster controls, and the words the ring and the inspector use.
// Everything comes from the snapshot's `config` and `membership` fields (docs/snapshot.md).

import { attr, el, text } from "../dom.js";

const ids = (list) => `{${(list || []).join(",")}}`;

/** "{n1,n2,n3}: 2 of 3" or, during joint consensus, both majorities joined by "and". */
export function majoritiesText(config) {
  if (!config) return "";
  return config.majorities
    .map((m) => `${config.joint ? `${m.name} ` : ""}${ids(m.voters)}: ${m.needed} of ${m.voters.length}`)
    .join(" and ");
}

/** The word under a node on the ring, when its membership says more than its role. */
export function membershipWord(n) {
  if (n.membership === "learner") return "learner";
  if (n.membership === "removed") return "REMOVED";
  return null;
}

/** Votes a candidate needs: of the new voters in its own configuration. */
export function votesNeeded(n, fallback) {
  const majorities = n.config?.majorities;
  return majorities ? majorities[majorities.length - 1].needed : fallback;
}

/** Inspector rows for a Raft node. */
export function rows(n) {
  if (!n.config) return [];
  const out = [
    ["membership", n.membership, "insp-membership"],
    ["configuration", n.config.joint ? `C_old,new ${ids(n.config.old_voters)} → ${ids(n.config.voters)}` : ids(n.config.voters), "insp-config"],
    ["majorities that count", majoritiesText(n.config)],
  ];
  if (n.config.learner) out.push(["catching up", `${n.config.learner} (learner)`]);
  if (n.leader_state?.transfer_to) out.push(["transferring to", n.leader_state.transfer_to, "insp-transfer"]);
  return out;
}

/** Node-menu buttons: transfer leadership to it, remove it, or add it back. */
export function nodeButtons(n, snap, cmd) {
  if (!snap || snap.protocol !== "raft" || !n.config) return [];
  const down = n.state === "crashed";
  const buttons = [];
  if (n.membership === "removed") {
    buttons.push(el("button", { type: "button", "data-testid": "action-readd", disabled: down || !snap.leader,
      title: "Ask the leader to add this server back", text: "Add back", onclick: cmd({ type: "add_server", node: n.id }) }));
    return buttons;
  }
  if (n.membership === "voter" && n.id !== snap.leader) {
    buttons.push(el("button", { type: "button", "data-testid": "action-transfer", disabled: down || !snap.leader,
      title: "Thesis 3.10: the leader brings this server up to date and tells it to campaign now",
      text: "Make leader (transfer)", onclick: cmd({ type: "transfer_leadership", node: n.id }) }));
  }
  if (n.membership === "voter") {
    buttons.push(el("button", { type: "button", class: "btn-danger", "data-testid": "action-remove", disabled: !snap.leader,
      title: "Ask the leader to remove this server from the configuration",
      text: "Remove from cluster", onclick: cmd({ type: "remove_server", node: n.id }) }));
  }
  return buttons;
}

/** The configuration banner: what the leader's configuration is and which majorities count. */
export function renderBanner(box, snap) {
  if (!box) return;
  const raft = snap.protocol === "raft";
  box.hidden = !raft;
  if (!raft) return;
  const leader = snap.nodes.find((n) => n.id === snap.leader);
  const config = leader?.config;
  attr(box, "data-joint", config?.joint ? "true" : "false");
  if (!config) {
    text(box, "No leader: each server counts the configuration in its own log.");
    return;
  }
  const learner = config.learner ? ` · learner ${config.learner} catching up` : "";
  const transfer = leader.leader_state?.transfer_to ? ` · handing over to ${leader.leader_state.transfer_to}` : "";
  const method = snap.settings?.joint_consensus ? "joint consensus" : "one server at a time";
  text(box, `${config.joint ? "Joint configuration" : "Configuration"} (${method}): majority ${majoritiesText(config)}${learner}${transfer}`);
}
