// A client that speaks CAF remoting but is not a member of the cluster,
// for system_rogue_client_is_refused:
//   flow_rogue_client register HOST PORT   registers with a coordinator as
//                                          a worker of another program
//   flow_rogue_client deploy HOST PORT     asks a worker's agent to deploy
//                                          (with a --config-file in the
//                                          job settings)
// Prints the answer on stdout; exits 0 if the node refused, 1 if it
// accepted, 2 if it could not be reached.
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace {

// The atoms of actors/src/cluster.cpp's protocol, as a peer would guess.
using register_atom = caf::atom_constant<caf::atom("register")>;
using deploy_atom = caf::atom_constant<caf::atom("deploy")>;

/// A subtask's state to restore, as the deploy request carries it (a peer
/// can read the layout off the wire); the rogue sends none.
struct restore_guess {
  uint64_t id = 0;
  std::vector<std::pair<uint32_t, std::vector<char>>> key_groups;
  std::vector<std::pair<std::string, int64_t>> positions;
  std::string operator_state;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, restore_guess& x) {
  return f(caf::meta::type_name("flow::subtask_restore"), x.id, x.key_groups,
           x.positions, x.operator_state);
}

int run(caf::actor_system& sys, const std::string& what,
        const std::string& host, uint16_t port) {
  auto node = sys.middleman().remote_actor(host, port);
  if (!node) {
    std::cout << "unreachable: " << sys.render(node.error()) << "\n";
    return 2;
  }
  caf::scoped_actor self{sys};
  int rc = 2;
  if (what == "register") {
    std::vector<std::string> none;
    self->request(*node, std::chrono::seconds(10), register_atom::value,
                  std::string("rogue"), uint32_t{2}, uint64_t{12345},
                  caf::actor_cast<caf::actor>(self),
                  caf::actor_cast<caf::actor>(self), std::string("127.0.0.1"),
                  uint32_t{1}, none, none)
        .receive(
            [&](bool ok, std::string& why) {
              std::cout << (ok ? "accepted" : "refused") << ": " << why << "\n";
              rc = ok ? 1 : 0;
            },
            [&](caf::error& err) {
              std::cout << "refused: " << sys.render(err) << "\n";
              rc = 0;
            });
  } else {
    std::vector<std::string> args{"--config-file=/etc/hostname"};
    std::vector<uint32_t> ids{0};
    self->request(*node, std::chrono::seconds(10), deploy_atom::value, args,
                  ids, caf::actor_cast<caf::actor>(self),
                  std::vector<restore_guess>{})
        .receive(
            [&](std::vector<caf::actor>& spawned) {
              std::cout << "accepted: " << spawned.size() << " subtasks\n";
              rc = 1;
            },
            [&](caf::error& err) {
              std::cout << "refused: " << sys.render(err) << "\n";
              rc = 0;
            });
  }
  return rc;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: " << argv[0] << " register|deploy HOST PORT\n";
    return 2;
  }
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  // The names actors/src/messages.cpp announces: a peer can read them off
  // the wire.
  cfg.add_message_type<std::vector<uint32_t>>("std::vector<uint32_t>");
  cfg.add_message_type<std::vector<std::string>>("std::vector<std::string>");
  cfg.add_message_type<std::vector<restore_guess>>(
      "std::vector<flow::subtask_restore>");
  caf::actor_system sys{cfg};
  return run(sys, argv[1], argv[2], static_cast<uint16_t>(std::stoi(argv[3])));
}
