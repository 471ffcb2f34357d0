// crc_test.cc - common/crc.h gives zlib's CRC-32 values (the record format
// depends on it), including when continued across pieces.

#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "crc.h"
}

TEST(CrcTest, MatchesZlibCheckValueAndContinues) {
    const std::string check = "123456789";
    EXPECT_EQ(0xCBF43926u, mq_crc32(0, check.data(), check.size())); // the CRC-32 check value
    EXPECT_EQ(0u, mq_crc32(0, "", 0));
    std::string big(100000, '\0');
    for (size_t i = 0; i < big.size(); i++)
        big[i] = (char)(i * 131 + 7);
    uint32_t whole = mq_crc32(0, big.data(), big.size());
    uint32_t pieces = 0;
    for (size_t at = 0; at < big.size(); at += 777)
        pieces = mq_crc32(pieces, big.data() + at, std::min<size_t>(777, big.size() - at));
    EXPECT_EQ(whole, pieces);
    EXPECT_EQ(0x414FA339u, mq_crc32(0, "The quick brown fox jumps over the lazy dog", 43));
}
