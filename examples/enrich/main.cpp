// enrich: a data-integration job. Orders (topic `orders`) are joined with
// the latest customer record per customer id (topic `customers`, read as a
// table) into `enriched-orders`; all values are Protobuf messages
// (proto/flow/examples/enrich.proto).
//
// The binary first runs a feed job that fills `customers` (with some
// customers updated later: the join must use the latest version) and
// `orders` (including a few undecodable records, which go to `orders.dlq`),
// then the enrich job, then prints a sample of the output and the counts.
// On the embedded cluster (kafka.bootstrap = "embedded", the default) all
// of this happens inside the process:
//   build/examples/enrich --config-file=conf/enrich.conf
#include "flow/examples/enrich.pb.h"
#include "flow/generator.hpp"
#include "flow/kafka.hpp"
#include "flow/log.hpp"
#include "flow/run.hpp"
#include "flow/runtime/job.hpp"
#include "flow/runtime/node_config.hpp"
#include "flow/runtime/option_registry.hpp"

#include <caf/config_option_adder.hpp>
#include <caf/make_config_option.hpp>

#include <array>
#include <cstdio>
#include <iostream>
#include <unordered_map>
#include <variant>

namespace {

using flow::examples::Customer;
using flow::examples::EnrichedOrder;
using flow::examples::Order;
namespace kafka = flow::kafka;

/// What the join consumes: a table update or an order.
using join_input = std::variant<Customer, Order>;

uint64_t customer_id_of(const join_input& x) {
  if (auto c = std::get_if<Customer>(&x)) return c->id();
  return std::get<Order>(x).customer_id();
}

/// Stream-table join, one instance per key-partitioned subtask: keeps the
/// latest Customer per id; an order is enriched with the customer current
/// when it arrives. Orders of a customer not seen yet wait (the table is
/// read from the beginning, so its record usually follows soon); at end of
/// input the ones still waiting leave without a customer.
class join_task final : public flow::emitting_task<EnrichedOrder> {
public:
  using emitting_task::emitting_task;

  void process(size_t, flow::batch_base& b) override {
    for (auto& x : flow::records_of<join_input>(b)) {
      if (auto c = std::get_if<Customer>(&x)) {
        auto id = c->id();
        auto& slot = table_[id];
        slot = std::move(*c);
        if (auto w = waiting_.find(id); w != waiting_.end()) {
          for (auto& o : w->second)
            emit(std::move(o), &slot);
          waiting_.erase(w);
        }
      } else {
        auto& o = std::get<Order>(x);
        if (auto i = table_.find(o.customer_id()); i != table_.end())
          emit(std::move(o), &i->second);
        else
          waiting_[o.customer_id()].push_back(std::move(o));
      }
    }
  }

  void end_of_input() override {
    for (auto& [id, orders] : waiting_)
      for (auto& o : orders)
        emit(std::move(o), nullptr);
    waiting_.clear();
  }

private:
  void emit(Order o, const Customer* c) {
    EnrichedOrder e;
    *e.mutable_order() = std::move(o);
    if (c) *e.mutable_customer() = *c;
    this->router_.emit(std::move(e));
  }

  std::unordered_map<uint64_t, Customer> table_;
  std::unordered_map<uint64_t, std::vector<Order>> waiting_;
};

struct sizes {
  int64_t customers = 1000;
  int64_t orders = 100000;
  int64_t updates = 200;
  int64_t corrupt = 3;
  int64_t sample = 5;
};

int64_t get_int(const flow::settings_map& s, const char* key, int64_t def) {
  auto v = flow::setting(&s, key);
  return v ? std::stoll(*v) : def;
}

void register_enrich_options() {
  flow::runtime::option_group g;
  g.name = "enrich";
  g.declare = [](caf::config_option_adder& add) {
    add.add<int64_t>("customers", "customers generated; default 1000")
        .add<int64_t>("orders", "orders generated; default 100000")
        .add<int64_t>("updates", "later customer updates; default 200")
        .add<int64_t>("corrupt",
                      "undecodable orders (to orders.dlq); default 3")
        .add<int64_t>("sample", "enriched orders printed; default 5");
  };
  g.validate =
      [](const flow::settings_map& s) -> std::optional<flow::config_error> {
    for (auto key : {"enrich.customers", "enrich.orders", "enrich.updates",
                     "enrich.corrupt", "enrich.sample"})
      if (auto v = flow::setting(&s, key); v && std::stoll(*v) < 0)
        return flow::config_error{key, *v, "an integer >= 0"};
    if (get_int(s, "enrich.customers", 1) < 1)
      return flow::config_error{"enrich.customers",
                                *flow::setting(&s, "enrich.customers"),
                                "an integer >= 1"};
    return std::nullopt;
  };
  flow::runtime::register_option_group(std::move(g));
}

constexpr std::array<const char*, 8> names{
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Leslie", "Niklaus"};
constexpr std::array<const char*, 5> countries{"DE", "FR", "US", "JP", "BR"};
constexpr std::array<const char*, 6> items{"keyboard", "monitor", "cable",
                                           "lamp",     "chair",   "desk"};

/// Fills `customers` and `orders`.
flow::topology feed(const sizes& n) {
  flow::topology t{"enrich-feed"};
  // Customers first as "basic", then `updates` of them upgraded to "gold".
  // One subtask keeps the versions of a customer in order.
  auto customers = flow::generator(
      static_cast<uint64_t>(n.customers + n.updates),
      [n](uint64_t i) {
        Customer c;
        auto id = i % static_cast<uint64_t>(n.customers);
        c.set_id(id);
        c.set_name(std::string(names[id % names.size()]) + " #" +
                   std::to_string(id));
        c.set_country(countries[id % countries.size()]);
        c.set_tier(i < static_cast<uint64_t>(n.customers) ? "basic" : "gold");
        return c;
      },
      "gen-customers");
  customers.parallelism = 1;
  t.source(customers).sink(kafka::sink<Customer>(
      "customers",
      kafka::keyed_by<Customer>([](const Customer& c) { return c.id(); })));
  // About 2% of the orders name a customer that does not exist.
  auto unknown = std::max<int64_t>(1, n.customers / 50);
  t
      .source(flow::generator(
          static_cast<uint64_t>(n.orders),
          [n, unknown](uint64_t i) {
            Order o;
            o.set_id(i);
            o.set_customer_id((i * 7919) %
                              static_cast<uint64_t>(n.customers + unknown));
            o.set_amount_cents(static_cast<int64_t>(100 + (i * 37) % 50000));
            o.set_item(items[i % items.size()]);
            o.set_timestamp_ms(1700000000000 + static_cast<int64_t>(i));
            return o;
          },
          "gen-orders"))
      .sink(kafka::sink<Order>(
          "orders",
          kafka::keyed_by<Order>([](const Order& o) { return o.id(); }),
          {"orders-sink", std::nullopt}));
  // Bytes that are no valid Protobuf Order (wire type 7).
  t.source(flow::generator(
               static_cast<uint64_t>(n.corrupt),
               [](uint64_t i) {
                 return std::string("\xff\xff\xff corrupt #") +
                        std::to_string(i);
               },
               "gen-corrupt"))
      .sink(kafka::sink<std::string>("orders", {"corrupt-sink", std::nullopt}));
  return t;
}

flow::topology enrich() {
  flow::topology t{"enrich"};
  auto customers = t.source(kafka::source<Customer>("customers"))
                       .map([](Customer c) { return join_input{std::move(c)}; },
                            "as-table-update");
  auto orders =
      t.source(kafka::source<Order>("orders"))
          .map([](Order o) { return join_input{std::move(o)}; }, "as-order");
  customers.union_with(orders)
      .key_by(customer_id_of)
      .partitioned("by-customer")
      .add<EnrichedOrder>("join",
                          [](const flow::task_setup& s) {
                            return std::make_unique<join_task>(s);
                          })
      .sink(kafka::sink<EnrichedOrder>(
          "enriched-orders",
          kafka::keyed_by<EnrichedOrder>(
              [](const EnrichedOrder& e) { return e.order().id(); })));
  return t;
}

/// Reads `enriched-orders` back and prints a sample and the counts.
void report(const flow::job_options& opts, const sizes& n) {
  auto s = kafka::client_settings::from(&opts.settings);
  s.stop_at_end = true;
  s.start = kafka::start_offset{};
  kafka::partition_reader reader{s, "enriched-orders", 0, 1};
  uint64_t total = 0, matched = 0, gold = 0;
  std::vector<std::string> sample;
  while (!reader.finished())
    for (auto& v : reader.fetch(10000, 100)) {
      EnrichedOrder e;
      if (!e.ParseFromArray(v.value.data(), static_cast<int>(v.value.size())))
        continue;
      ++total;
      if (e.has_customer()) {
        ++matched;
        gold += e.customer().tier() == "gold";
      }
      if (sample.size() < static_cast<size_t>(n.sample)) {
        char line[256];
        std::snprintf(line, sizeof line,
                      "  order %6llu  %-9s %7.2f  customer %4llu  %s",
                      static_cast<unsigned long long>(e.order().id()),
                      e.order().item().c_str(),
                      static_cast<double>(e.order().amount_cents()) / 100.0,
                      static_cast<unsigned long long>(e.order().customer_id()),
                      e.has_customer() ? (e.customer().name() + " (" +
                                          e.customer().country() + ", " +
                                          e.customer().tier() + ")")
                                             .c_str()
                                       : "(unknown customer)");
        sample.push_back(line);
      }
    }
  std::cout << "enriched-orders sample:\n";
  for (auto& l : sample)
    std::cout << l << '\n';
  std::cout << "counts: customers " << n.customers << " (+" << n.updates
            << " updates), orders " << n.orders << " (+" << n.corrupt
            << " corrupt), enriched " << total << " (" << matched
            << " with customer, " << gold << " of them gold; "
            << total - matched << " unknown customer), dead-lettered "
            << kafka::counters().dead_lettered.load() << " (orders.dlq)\n";
}

} // namespace

int main(int argc, char** argv) {
  register_enrich_options();
  kafka::register_options();
  flow::runtime::node_config cfg;
  std::vector<std::string> args(argv + 1, argv + argc);
  switch (cfg.load(args)) {
  case flow::runtime::node_config::outcome::help:
    return flow::run(*std::make_unique<flow::topology>("enrich"), argc, argv);
  case flow::runtime::node_config::outcome::error:
    std::cerr << argv[0] << ": " << cfg.message() << '\n';
    return flow::exit_bad_config;
  case flow::runtime::node_config::outcome::ok:
    break;
  }
  auto& opts = cfg.options();
  sizes n;
  n.customers = get_int(opts.settings, "enrich.customers", n.customers);
  n.orders = get_int(opts.settings, "enrich.orders", n.orders);
  n.updates = get_int(opts.settings, "enrich.updates", n.updates);
  n.corrupt = get_int(opts.settings, "enrich.corrupt", n.corrupt);
  n.sample = get_int(opts.settings, "enrich.sample", n.sample);
  flow::set_log_level(opts.log_level);
  auto log = flow::logger("flow/runtime");

  // The topics, with the configured partitions (or 4): a real cluster
  // may not create them on demand; existing topics are kept.
  try {
    auto ks = kafka::client_settings::from(&opts.settings);
    kafka::admin adm{ks};
    auto parts = ks.embedded_partitions > 0
                     ? static_cast<int32_t>(ks.embedded_partitions)
                     : 4;
    for (auto topic : {"customers", "orders", "enriched-orders"})
      adm.create_topic(topic, parts);
  } catch (const std::exception& e) {
    log->error("job 'enrich-feed' FAILED: cannot create the topics: {}",
               e.what());
    return flow::exit_job_failed;
  }

  auto f = feed(n);
  auto fed = flow::runtime::execute(f, opts);
  if (!fed.ok) {
    log->error("job 'enrich-feed' FAILED: {}", fed.error);
    return flow::exit_job_failed;
  }
  log->info("job 'enrich-feed' wrote {} customers and {} orders in {:.3f}s",
            n.customers + n.updates, n.orders + n.corrupt, fed.seconds);

  auto t = enrich();
  auto rc = flow::run(t, argc, argv);
  if (rc != flow::exit_ok) return rc;
  try {
    report(opts, n);
  } catch (const std::exception& e) {
    log->error("reading enriched-orders failed: {}", e.what());
    return flow::exit_job_failed;
  }
  return flow::exit_ok;
}
