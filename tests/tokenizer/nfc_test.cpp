#include "tokenizer/nfc.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

TEST(Nfc, Composes) {
  EXPECT_EQ(nfc_normalize("e\xcc\x81"), "\xc3\xa9");                     // e + ◌́ -> é
  EXPECT_EQ(nfc_normalize("\xe1\x84\x80\xe1\x85\xa1"), "\xea\xb0\x80");  // ᄀ + ᅡ -> 가
  EXPECT_EQ(nfc_normalize("\xea\xb0\x80\xe1\x86\xa8"), "\xea\xb0\x81");  // 가 + ᆨ -> 각
  // Canonical ordering puts the dot below (ccc 220) before the acute (230); a + dot below
  // compose to ạ, and no precomposed character holds the acute too.
  EXPECT_EQ(nfc_normalize("a\xcc\x81\xcc\xa3"), "\xe1\xba\xa1\xcc\x81");
  // Singleton decomposition: Ω (OHM SIGN U+2126) -> Ω (U+03A9).
  EXPECT_EQ(nfc_normalize("\xe2\x84\xa6"), "\xce\xa9");
  // Composition exclusion: U+0958 stays decomposed.
  EXPECT_EQ(nfc_normalize("\xe0\xa5\x98"), "\xe0\xa4\x95\xe0\xa4\xbc");
}

TEST(Nfc, LeavesNfcTextAndBadBytesAlone) {
  for (const char* s : {"plain ascii", "héllo wörld", "中文 😀", "\xea\xb0\x81", ""}) {
    EXPECT_TRUE(nfc_quick_check(s)) << s;
    EXPECT_EQ(nfc_normalize(s), s);
  }
  EXPECT_FALSE(nfc_quick_check("e\xcc\x81"));
  EXPECT_EQ(nfc_normalize("\xff"
                          "e\xcc\x81\x80"),
            "\xff\xc3\xa9\x80");
}

}  // namespace
}  // namespace strata
