#define BOOST_TEST_MODULE flow_kafka
#include <boost/test/unit_test.hpp>
