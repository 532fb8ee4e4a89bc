/* Unit tests for src/checkdigit.c.  Expected check characters are worked
 * out by hand in the comments, from the standards' tables, not by the code
 * under test. */
#include "checkdigit.h"
#include "tap.h"

TEST(uscc_check_character_by_hand)
{
    /* 91130100MA0CXXXXX, values (alphabet index; M=21 A=10 C=12 X=29) × weights:
     *  9×1 + 1×3 + 1×9 + 3×27 + 0×19 + 1×26 + 0×16 + 0×17 + 21×20 + 10×29
     *  + 0×25 + 12×13 + 29×8 + 29×24 + 29×10 + 29×30 + 29×28
     *  = 9+3+9+81+0+26+0+0+420+290+0+156+232+696+290+870+812 = 3894;
     *  3894 mod 31 = 19; 31 − 19 = 12 → 'C'. */
    CHECK_INT(checkdigit_uscc("91130100MA0CXXXXX"), 'C');
    CHECK(checkdigit_uscc_valid("91130100MA0CXXXXXC"));
    /* 91110000100000000: 9×1 + 1×3 + 1×9 + 1×27 + 1×20 (ninth character)
     * = 68; 68 mod 31 = 6; 31 − 6 = 25 → 'R'. */
    CHECK_INT(checkdigit_uscc("91110000100000000"), 'R');
    /* All zeros: Σ = 0, 31 − 0 = 31 → 0 → '0'. */
    CHECK_INT(checkdigit_uscc("00000000000000000"), '0');
    CHECK(checkdigit_uscc_valid("000000000000000000"));
    /* Only the 17th character set, to 'Y' (30): 30×28 = 840; 840 mod 31 = 3;
     * 31 − 3 = 28 → 'W'. */
    CHECK_INT(checkdigit_uscc("0000000000000000Y"), 'W');
}

TEST(uscc_rejects_bad_codes)
{
    CHECK(!checkdigit_uscc_valid("91130100MA0CXXXXXD"));   /* wrong check char */
    CHECK(!checkdigit_uscc_valid("91130100MA0CXXXXX"));    /* 17 characters */
    CHECK(!checkdigit_uscc_valid("91130100MA0CXXXXXCC"));  /* 19 characters */
    CHECK(!checkdigit_uscc_valid("91130100ma0cxxxxxC"));   /* lower case */
    CHECK(!checkdigit_uscc_valid(""));
    CHECK(!checkdigit_uscc_valid(NULL));
    /* I, O, S, V, Z are not in the alphabet. */
    CHECK_INT(checkdigit_uscc("91130100MA0CXXXXI"), '\0');
    CHECK_INT(checkdigit_uscc("91130100MA0CXXXXO"), '\0');
    CHECK_INT(checkdigit_uscc("91130100MA0CXXXXS"), '\0');
    CHECK_INT(checkdigit_uscc("91130100MA0CXXXXV"), '\0');
    CHECK_INT(checkdigit_uscc("91130100MA0CXXXXZ"), '\0');
    CHECK_INT(checkdigit_uscc("9113"), '\0');              /* too short */
    CHECK(!checkdigit_uscc_valid("91130100MA0CXXXXXO"));   /* check char outside alphabet */
    /* Two swapped characters change the check character. */
    CHECK(!checkdigit_uscc_valid("19130100MA0CXXXXXC"));
}

TEST(idno_check_character_by_hand)
{
    /* 11010519491231002 (GB 11643's own example):
     *  1×7 + 1×9 + 0×10 + 1×5 + 0×8 + 5×4 + 1×2 + 9×1 + 4×6 + 9×3 + 1×7 + 2×9
     *  + 3×10 + 1×5 + 0×8 + 0×4 + 2×2 = 167; 167 mod 11 = 2 → 'X'. */
    CHECK_INT(checkdigit_idno("11010519491231002"), 'X');
    CHECK(checkdigit_idno_valid("11010519491231002X"));
    CHECK(checkdigit_idno_valid("11010519491231002x"));    /* typed in lower case */
    /* 13010219900101123:
     *  1×7 + 3×9 + 0×10 + 1×5 + 0×8 + 2×4 + 1×2 + 9×1 + 9×6 + 0×3 + 0×7 + 1×9
     *  + 0×10 + 1×5 + 1×8 + 2×4 + 3×2 = 7+27+5+8+2+9+54+9+5+8+8+6 = 148;
     *  148 mod 11 = 5 → '7'. */
    CHECK_INT(checkdigit_idno("13010219900101123"), '7');
    CHECK(checkdigit_idno_valid("130102199001011237"));
    CHECK_INT(checkdigit_idno_birth("130102199001011237"), date_from_ymd(1990, 1, 1));
    CHECK_INT(checkdigit_idno_birth("11010519491231002X"), date_from_ymd(1949, 12, 31));
}

TEST(idno_rejects_bad_numbers)
{
    CHECK(!checkdigit_idno_valid("130102199001011238"));   /* wrong check char */
    CHECK(!checkdigit_idno_valid("11010519491231002Y"));
    CHECK(!checkdigit_idno_valid("13010219900101123"));    /* 17 characters */
    CHECK(!checkdigit_idno_valid("1301021990010112377"));
    CHECK(!checkdigit_idno_valid("13010219900A011237"));
    CHECK(!checkdigit_idno_valid(""));
    CHECK(!checkdigit_idno_valid(NULL));
    CHECK_INT(checkdigit_idno("1301021990010112A"), '\0');
    /* 13010219901301123 has month 13: the check character is right
     *  (1×7+3×9+0+1×5+0+2×4+1×2+9×1+9×6+0×3+1×7+3×9+0×10+1×5+1×8+2×4+3×2
     *   = 7+27+5+8+2+9+54+7+27+5+8+8+6 = 173; 173 mod 11 = 8 → '4')
     * but digits 7-14 are not a date. */
    CHECK_INT(checkdigit_idno("13010219901301123"), '4');
    CHECK(!checkdigit_idno_valid("130102199013011234"));
    CHECK_INT(checkdigit_idno_birth("130102199013011234"), DATE_NONE);
    CHECK_INT(checkdigit_idno_birth("130102199001011238"), DATE_NONE);
}

TEST(resident_id_type_spellings)
{
    CHECK(checkdigit_is_resident_id_type(NULL));
    CHECK(checkdigit_is_resident_id_type(""));
    CHECK(checkdigit_is_resident_id_type("身份证"));
    CHECK(checkdigit_is_resident_id_type("居民身份证"));
    CHECK(checkdigit_is_resident_id_type("1"));
    CHECK(checkdigit_is_resident_id_type("resident_id"));
    CHECK(!checkdigit_is_resident_id_type("护照"));
    CHECK(!checkdigit_is_resident_id_type("passport"));
    CHECK(!checkdigit_is_resident_id_type("2"));
}

int main(void)
{
    RUN(uscc_check_character_by_hand);
    RUN(uscc_rejects_bad_codes);
    RUN(idno_check_character_by_hand);
    RUN(idno_rejects_bad_numbers);
    RUN(resident_id_type_spellings);
    return tap_done();
}
