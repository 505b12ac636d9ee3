// For tests of error paths: the message of the exception of type E (std::invalid_argument unless said) that f()
// throws, "(no exception)" when it throws none. An exception of another type escapes and fails the test.
#pragma once

#include <stdexcept>
#include <string>

namespace talklab::test {

template <class E = std::invalid_argument, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace talklab::test
