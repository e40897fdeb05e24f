// examples/enrich over real topics: a seeded customer changelog (versions
// racing the orders in event time, tombstones, customers created after
// some of their orders) and seeded orders are produced, the enrich binary
// joins them with --enrich.feed=false five times (parallelism 1 to 4,
// batch sizes 1 and 1024, a slow sink), and each output topic is
// compared with a brute-force reference computed here:
// each order with the customer version valid at its time, else the
// customer's first version within enrich.max-wait after it, else none.
#include "../unit/seed.hpp"
#include "fixture.hpp"

#include "flow/examples/enrich.pb.h"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>

using namespace flow::kafka;
using namespace flow::kafka::test;
using flow::examples::Customer;
using flow::examples::EnrichedOrder;
using flow::examples::Order;

namespace {

constexpr int64_t base_ms = 1700000000000;
constexpr int64_t max_wait = 150;
constexpr int64_t disorder = 200;

struct version {
  int64_t ts;
  /// Unset: a tombstone.
  std::optional<std::string> name;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(kafka_enrich, fixture)

BOOST_AUTO_TEST_CASE(enrich_output_matches_a_brute_force_reference) {
  auto seed = flow::test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  constexpr uint64_t customers = 40;
  constexpr int64_t orders = 4000;

  // Versions per customer at distinct times spread over the orders' time:
  // each customer is created at some point (so earlier orders have none),
  // changes, is sometimes deleted and comes back.
  std::map<uint64_t, std::map<int64_t, version>> versions;
  for (uint64_t c = 0; c < customers; ++c) {
    auto t = base_ms + static_cast<int64_t>(rng() % orders);
    for (int k = 0; t < base_ms + orders; ++k) {
      version v{t, std::nullopt};
      if (k == 0 || rng() % 4 != 0)
        v.name = "c" + std::to_string(c) + "-v" + std::to_string(k);
      versions[c][t] = v;
      t += 1 + static_cast<int64_t>(rng() % 600);
    }
  }
  // The changelog in time order, keyed by customer id.
  std::multimap<int64_t, producer_record> by_time;
  for (auto& [c, vs] : versions)
    for (auto& [t, v] : vs) {
      producer_record r;
      r.key = std::to_string(c);
      r.timestamp = t;
      if (v.name) {
        Customer x;
        x.set_id(c);
        x.set_name(*v.name);
        r.value = x.SerializeAsString();
      } else {
        r.tombstone = true;
      }
      by_time.emplace(t, std::move(r));
    }
  std::vector<producer_record> changelog;
  for (auto& [t, r] : by_time)
    changelog.push_back(std::move(r));

  // Orders one per ms, a little out of order; some of customers that never
  // exist.
  std::vector<producer_record> order_records;
  std::map<uint64_t, std::string> want; // order id -> customer name or ""
  size_t waited = 0, tombstoned = 0;
  for (int64_t i = 0; i < orders; ++i) {
    Order o;
    o.set_id(static_cast<uint64_t>(i));
    o.set_customer_id(rng() % (customers + 3));
    o.set_timestamp_ms(base_ms + i + static_cast<int64_t>(rng() % 50));
    producer_record r;
    r.key = std::to_string(i);
    r.value = o.SerializeAsString();
    order_records.push_back(std::move(r));

    std::string name;
    auto vs = versions.find(o.customer_id());
    if (vs != versions.end()) {
      auto& m = vs->second;
      auto at = m.upper_bound(o.timestamp_ms());
      if (at != m.begin() && std::prev(at)->second.name) {
        name = *std::prev(at)->second.name;
      } else {
        tombstoned += at != m.begin();
        if (at != m.end() && at->first <= o.timestamp_ms() + max_wait &&
            at->second.name) {
          name = *at->second.name;
          ++waited;
        }
      }
    }
    want[o.id()] = name;
  }
  BOOST_TEST_MESSAGE(changelog.size()
                     << " customer versions, " << waited
                     << " orders join a later version, " << tombstoned
                     << " come after a tombstone");
  BOOST_REQUIRE_GT(waited, 5u);
  BOOST_REQUIRE_GT(tombstoned, 50u);

  auto customers_topic = make_topic("enrich-customers", 3);
  auto orders_topic = make_topic("enrich-orders", 3);
  produce(customers_topic, changelog);
  produce(orders_topic, order_records);

  // Five runs: parallelism 1 to 4, batch sizes 1 and 1024, one with a
  // sink that holds its records 50 ms before sending.
  struct run {
    int parallelism;
    int batch;
    int linger_ms;
  };
  for (auto [parallelism, batch, linger_ms] :
       {run{1, 1024, 1}, run{2, 1, 1}, run{3, 1024, 1}, run{4, 1, 1},
        run{2, 1024, 50}}) {
    BOOST_TEST_CONTEXT("parallelism " << parallelism << " batch " << batch
                                      << " linger " << linger_ms << " ms") {
      auto output = unique("enrich-output");
      auto late = unique("enrich-late");
      auto cmd =
          std::string(FLOW_ENRICH) +
          " --kafka.bootstrap=" + settings.bootstrap +
          " --kafka.stop-at-end=true --flow.status-interval=0s "
          "--flow.http-port=0"
          " --flow.parallelism=" +
          std::to_string(parallelism) +
          " --flow.batch-size=" + std::to_string(batch) +
          " --kafka.linger-ms=" + std::to_string(linger_ms) +
          " --enrich.feed=false --enrich.customers-topic=" + customers_topic +
          " --enrich.orders-topic=" + orders_topic +
          " --enrich.output-topic=" + output + " --enrich.late-topic=" + late +
          " --enrich.max-wait=" + std::to_string(max_wait) +
          " --enrich.out-of-orderness=" + std::to_string(disorder);
      BOOST_TEST_MESSAGE(cmd);
      BOOST_REQUIRE_EQUAL(std::system(cmd.c_str()), 0);

      std::map<uint64_t, std::string> got;
      size_t records = 0;
      for (auto& r : read_all(output)) {
        EnrichedOrder e;
        BOOST_REQUIRE(e.ParseFromString(r.value));
        got[e.order().id()] = e.has_customer() ? e.customer().name() : "";
        ++records;
      }
      BOOST_CHECK_EQUAL(records, static_cast<size_t>(orders));
      BOOST_CHECK(got == want);
      BOOST_CHECK_EQUAL(read_all(late).size(), 0u);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
