// strata serve's option errors: one "strata: error:" line and a non-zero exit, before any
// request could be served.
#include <gtest/gtest.h>

#include "cli/cli_util.h"

namespace strata::test {
namespace {

TEST(ServeCli, BadOptionsFailClearly) {
  expect_clean_error(run_cli("serve --parallel 0"), "--parallel must be in [1, 256], got 0",
                     "--parallel 0");
  expect_clean_error(run_cli("serve --parallel 300"), "--parallel must be in [1, 256], got 300",
                     "--parallel 300");
  expect_clean_error(run_cli("serve --port 70000"), "--port must be in [0, 65535], got 70000",
                     "--port 70000");
  expect_clean_error(run_cli("serve --port 0 --max-body lots"), "--max-body", "--max-body lots");
  expect_clean_error(run_cli("serve -q --port 0 --host 256.1.1.1"), "cannot listen on 256.1.1.1",
                     "an address that is no address");
  expect_clean_error(run_cli("serve --port 0 --kv-type q8_0"), "head dimension",
                     "q8_0 cache on stories260K");
}

}  // namespace
}  // namespace strata::test
