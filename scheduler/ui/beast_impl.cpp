// SPDX-License-Identifier: Apache-2.0
// Boost.Beast, compiled once (BOOST_BEAST_SEPARATE_COMPILATION) instead of in every file that uses it.
#include <boost/beast/src.hpp>
