#define BOOST_TEST_MODULE libflow unit tests
#include <boost/test/unit_test.hpp>
