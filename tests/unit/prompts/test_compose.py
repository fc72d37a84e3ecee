"""Speech composition: numbers, counts, digits, menus, dates and times as prompt ids per language."""

from __future__ import annotations

import random
from datetime import date, datetime

import pytest

from appliance.prompts import (
    NOUNS,
    say_clock,
    say_count,
    say_date,
    say_digits,
    say_duration,
    say_menu,
    say_number,
    say_option,
    say_time,
)
from appliance.prompts.catalog import load_catalog

EN_NUMBERS = {
    0: ["digit_0"],
    7: ["digit_7"],
    10: ["num_10"],
    11: ["num_11"],
    15: ["num_15"],
    20: ["num_20"],
    21: ["num_20", "digit_1"],
    99: ["num_90", "digit_9"],
    100: ["num_100"],
    101: ["num_100", "digit_1"],
    110: ["num_100", "num_10"],
    115: ["num_100", "num_15"],
    999: ["num_900", "num_90", "digit_9"],
    1000: ["digit_1", "num_thousand_one"],
    1001: ["digit_1", "num_thousand_one", "digit_1"],
    2024: ["digit_2", "num_thousand_many", "num_20", "digit_4"],
    10000: ["num_10", "num_thousand_many"],
    12345: ["num_12", "num_thousand_many", "num_300", "num_40", "digit_5"],
    100000: ["num_100", "num_thousand_many"],
    999999: ["num_900", "num_90", "digit_9", "num_thousand_many", "num_900", "num_90", "digit_9"],
}

ZH_NUMBERS = {
    0: ["digit_0"],
    7: ["digit_7"],
    10: ["num_10"],  # 十
    11: ["num_11"],  # 十一
    15: ["num_15"],
    20: ["num_20"],
    21: ["num_20", "digit_1"],  # 二十一
    99: ["num_90", "digit_9"],
    100: ["num_100"],  # 一百
    101: ["num_100", "digit_0", "digit_1"],  # 一百零一
    110: ["num_100", "digit_1", "num_10"],  # 一百一十
    115: ["num_100", "digit_1", "num_10", "digit_5"],  # 一百一十五
    200: ["num_200"],  # 两百
    999: ["num_900", "num_90", "digit_9"],
    1000: ["digit_1", "num_thousand_many"],  # 一千
    1001: ["digit_1", "num_thousand_many", "digit_0", "digit_1"],  # 一千零一
    1010: ["digit_1", "num_thousand_many", "digit_0", "digit_1", "num_10"],  # 一千零一十
    2024: ["zh_liang", "num_thousand_many", "digit_0", "num_20", "digit_4"],  # 两千零二十四
    10000: ["digit_1", "zh_wan"],  # 一万
    10010: ["digit_1", "zh_wan", "digit_0", "digit_1", "num_10"],  # 一万零一十
    12345: ["digit_1", "zh_wan", "zh_liang", "num_thousand_many", "num_300", "num_40", "digit_5"],
    20000: ["zh_liang", "zh_wan"],  # 两万
    100000: ["num_10", "zh_wan"],  # 十万
    100500: ["num_10", "zh_wan", "digit_0", "num_500"],  # 十万零五百
    999999: ["num_90", "digit_9", "zh_wan", "digit_9", "num_thousand_many", "num_900", "num_90", "digit_9"],
}

RU_NUMBERS = {
    0: ["digit_0"],
    7: ["digit_7"],
    10: ["num_10"],
    11: ["num_11"],
    15: ["num_15"],
    20: ["num_20"],
    21: ["num_20", "digit_1"],  # двадцать один
    99: ["num_90", "digit_9"],
    100: ["num_100"],
    101: ["num_100", "digit_1"],
    110: ["num_100", "num_10"],
    115: ["num_100", "num_15"],
    999: ["num_900", "num_90", "digit_9"],
    1000: ["ru_odin_f", "num_thousand_one"],  # одна тысяча
    1001: ["ru_odin_f", "num_thousand_one", "digit_1"],
    2000: ["ru_dva_f", "num_thousand_few"],  # две тысячи
    2024: ["ru_dva_f", "num_thousand_few", "num_20", "digit_4"],
    5000: ["digit_5", "num_thousand_many"],  # пять тысяч
    10000: ["num_10", "num_thousand_many"],
    11000: ["num_11", "num_thousand_many"],  # одиннадцать тысяч
    12345: ["num_12", "num_thousand_many", "num_300", "num_40", "digit_5"],
    21000: ["num_20", "ru_odin_f", "num_thousand_one"],  # двадцать одна тысяча
    22000: ["num_20", "ru_dva_f", "num_thousand_few"],  # двадцать две тысячи
    100000: ["num_100", "num_thousand_many"],
    999999: ["num_900", "num_90", "digit_9", "num_thousand_many", "num_900", "num_90", "digit_9"],
}


@pytest.mark.parametrize("lang,table", [("en", EN_NUMBERS), ("zh", ZH_NUMBERS), ("ru", RU_NUMBERS)])
def test_numbers_are_composed_per_language(lang, table):
    assert {n: say_number(n, lang) for n in table} == table


@pytest.mark.parametrize("lang", ["en", "zh", "ru"])
def test_every_composed_number_uses_only_prompts_of_its_catalogue(lang):
    cat = load_catalog(lang)
    numbers = list(range(0, 2100)) + random.Random(5).sample(range(2100, 1_000_000), 3000) + [999_999]
    used = {pid for n in numbers for pid in say_number(n, lang)}
    assert used <= set(cat.prompts)


@pytest.mark.parametrize("bad", [-1, 1_000_000])
def test_numbers_outside_the_spoken_range_are_refused(bad):
    with pytest.raises(ValueError, match="0 to 999999"):
        say_number(bad, "en")


def test_a_non_integer_is_refused():
    with pytest.raises(TypeError):
        say_number(2.5, "en")  # type: ignore[arg-type]


COUNTS = {
    ("en", 0): ["you_have", "new_message_none"],
    ("en", 1): ["you_have", "digit_1", "new_message_one"],
    ("en", 3): ["you_have", "digit_3", "new_message_many"],
    ("en", 21): ["you_have", "num_20", "digit_1", "new_message_many"],
    ("zh", 0): ["zh_nin", "new_message_none"],  # 您没有新留言
    ("zh", 1): ["you_have", "digit_1", "new_message_many"],  # 您有一条新留言
    ("zh", 2): ["you_have", "zh_liang", "new_message_many"],  # 您有两条新留言
    ("zh", 12): ["you_have", "num_12", "new_message_many"],  # 十二条, not 十两条
    ("zh", 22): ["you_have", "num_20", "digit_2", "new_message_many"],  # 二十二条
    ("ru", 0): ["you_have", "new_message_none"],  # у вас нет новых сообщений
    ("ru", 1): ["you_have", "ru_odin_n", "new_message_one"],  # одно новое сообщение
    ("ru", 2): ["you_have", "digit_2", "new_message_few"],  # два новых сообщения
    ("ru", 5): ["you_have", "digit_5", "new_message_many"],  # пять новых сообщений
    ("ru", 11): ["you_have", "num_11", "new_message_many"],
    ("ru", 12): ["you_have", "num_12", "new_message_many"],
    ("ru", 21): ["you_have", "num_20", "ru_odin_n", "new_message_one"],  # двадцать одно новое сообщение
    ("ru", 24): ["you_have", "num_20", "digit_4", "new_message_few"],
    ("ru", 111): ["you_have", "num_100", "num_11", "new_message_many"],
}


@pytest.mark.parametrize("lang,n", list(COUNTS))
def test_counts_say_you_have_n_messages_with_the_right_forms(lang, n):
    assert say_count(n, "new_message", lang) == COUNTS[lang, n]


def test_russian_plural_forms_of_messages():
    assert say_count(1, "message", "ru", you_have=False) == ["ru_odin_n", "message_one"]  # 1 сообщение
    assert say_count(2, "message", "ru", you_have=False) == ["digit_2", "message_few"]  # 2 сообщения
    assert say_count(5, "message", "ru", you_have=False) == ["digit_5", "message_many"]  # 5 сообщений


def test_russian_feminine_nouns_take_odna_and_dve():
    assert say_count(1, "minute", "ru", you_have=False) == ["ru_odin_f", "minute_one"]  # одна минута
    assert say_count(2, "minute", "ru", you_have=False) == ["ru_dva_f", "minute_few"]  # две минуты
    assert say_count(22, "second", "ru", you_have=False) == ["num_20", "ru_dva_f", "second_few"]
    assert say_count(1, "hour", "ru", you_have=False) == ["digit_1", "hour_one"]  # один час


def test_counts_without_you_have_and_nouns_without_a_none_form():
    assert say_count(3, "old_message", "en", you_have=False) == ["digit_3", "old_message_many"]
    assert say_count(0, "minute", "en", you_have=False) == ["digit_0", "minute_many"]


def test_an_unknown_noun_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="new_message"):
        say_count(1, "fax", "en")


@pytest.mark.parametrize("lang", ["en", "zh", "ru"])
def test_counts_of_every_noun_use_only_prompts_of_the_catalogue(lang):
    cat = load_catalog(lang)
    used = {pid for noun in NOUNS for n in range(0, 130) for pid in say_count(n, noun, lang)}
    assert used <= set(cat.prompts)


def test_digits_are_read_one_by_one_with_symbols():
    assert say_digits("192.168.1.10", "en") == [
        "digit_1", "digit_9", "digit_2", "sym_dot", "digit_1", "digit_6", "digit_8", "sym_dot", "digit_1",
        "sym_dot", "digit_1", "digit_0"]
    assert say_digits("*61#", "ru") == ["sym_star", "digit_6", "digit_1", "sym_pound"]
    assert say_digits("+86 (10) 1234-5", "en")[:3] == ["sym_plus", "digit_8", "digit_6"]


def test_chinese_reads_one_as_yao_in_digit_strings():
    assert say_digits("110", "zh") == ["zh_yao", "zh_yao", "digit_0"]


def test_ipv6_addresses_can_be_read():
    assert say_digits("fe80::1", "en") == ["letter_f", "letter_e", "digit_8", "digit_0", "sym_colon", "sym_colon",
                                           "digit_1"]


def test_unreadable_characters_are_refused():
    with pytest.raises(ValueError, match="'x'"):
        say_digits("12x", "en")


def test_menu_options_are_action_press_key():
    assert say_option("opt_delete", "7", "en") == ["opt_delete", "press", "digit_7"]
    assert say_menu([("opt_rerecord", "1"), ("opt_accept", "#"), ("opt_main_menu", "*")], "ru") == [
        "opt_rerecord", "press", "digit_1", "opt_accept", "press", "key_pound", "opt_main_menu", "press", "key_star"]
    with pytest.raises(ValueError):
        say_option("opt_delete", "A", "en")
    with pytest.raises(ValueError):
        say_option("vm_welcome", "1", "en")


NOW = datetime(2024, 3, 13, 16, 0)  # a Wednesday


def test_english_time_today_yesterday_weekday_and_date():
    assert say_time(datetime(2024, 3, 13, 14, 41), "en", now=NOW) == [
        "time_today", "time_at", "digit_2", "num_40", "digit_1", "time_pm"]
    assert say_time(datetime(2024, 3, 12, 9, 5), "en", now=NOW) == [
        "time_yesterday", "time_at", "digit_9", "time_oh", "digit_5", "time_am"]
    assert say_time(datetime(2024, 3, 11, 0, 30), "en", now=NOW) == [
        "on_weekday_0", "time_at", "num_12", "num_30", "time_am"]
    assert say_time(datetime(2024, 3, 1, 12, 0), "en", now=NOW) == [
        "month_3", "ord_1", "time_at", "num_12", "time_pm"]


def test_a_date_of_another_year_includes_the_year():
    assert say_time(datetime(2023, 12, 21, 23, 59), "en", now=NOW) == [
        "month_12", "num_20", "ord_1", "num_20", "num_20", "digit_3", "time_at", "num_11", "num_50", "digit_9",
        "time_pm"]


def test_a_week_ago_is_said_as_a_date_not_a_weekday():
    assert say_time(datetime(2024, 3, 6, 10, 0), "en", now=NOW)[:2] == ["month_3", "ord_6"]


def test_a_time_in_the_future_is_said_as_a_date():
    assert say_time(datetime(2024, 3, 14, 10, 0), "en", now=NOW)[:2] == ["month_3", "ord_14"]


def test_chinese_time_has_the_period_of_the_day_and_liang_dian():
    assert say_time(datetime(2024, 3, 13, 14, 41), "zh", now=NOW) == [
        "time_today", "time_pm", "zh_liang", "zh_dian", "num_40", "digit_1", "zh_fen"]  # 今天下午两点四十一分
    assert say_time(datetime(2024, 3, 12, 9, 5), "zh", now=NOW) == [
        "time_yesterday", "time_am", "digit_9", "zh_dian", "time_oh", "digit_5", "zh_fen"]  # 昨天上午九点零五分
    assert say_clock(12, 0, "zh") == ["zh_zhongwu", "num_12", "zh_dian"]  # 中午十二点
    assert say_clock(3, 0, "zh")[0] == "zh_lingchen"
    assert say_clock(20, 0, "zh")[0] == "zh_wanshang"


def test_russian_time_is_read_like_the_speaking_clock():
    assert say_time(datetime(2024, 3, 13, 14, 41), "ru", now=NOW) == [
        "time_today", "num_14", "hour_many", "num_40", "ru_odin_f", "minute_one"]  # 14 часов 41 минута
    assert say_clock(21, 2, "ru") == ["num_20", "digit_1", "hour_one", "ru_dva_f", "minute_few"]
    assert say_clock(22, 0, "ru") == ["num_20", "digit_2", "hour_few"]


def test_russian_dates_after_received_are_genitive():
    assert say_time(datetime(2024, 3, 3, 10, 0), "ru", now=NOW)[:2] == ["ru_ordg_3", "month_3"]  # третьего марта
    assert say_time(datetime(2024, 3, 1, 10, 0), "ru", now=NOW)[:2] == ["ru_ordg_1", "month_3"]
    assert say_time(datetime(2024, 2, 21, 10, 0), "ru", now=NOW)[:3] == ["num_20", "ru_ordg_1", "month_2"]


DATES = {
    "en": ["month_3", "ord_3", "num_20", "num_20", "digit_4"],  # March third twenty twenty four
    "zh": ["digit_2", "digit_0", "digit_2", "digit_4", "zh_nian", "month_3", "ord_3"],  # 二零二四年三月三日
    "ru": ["ord_3", "month_3", "ru_dva_f", "num_thousand_few", "num_20", "ru_ordg_4", "ru_goda"],
}


@pytest.mark.parametrize("lang", DATES)
def test_dates_with_the_year(lang):
    assert say_date(date(2024, 3, 3), lang, year=True) == DATES[lang]


def test_english_years_as_people_say_them():
    assert say_date(date(2005, 1, 1), "en", year=True)[2:] == ["digit_2", "num_thousand_many", "digit_5"]
    assert say_date(date(1905, 1, 1), "en", year=True)[2:] == ["num_19", "time_oh", "digit_5"]
    assert say_date(date(2000, 1, 1), "en", year=True)[2:] == ["digit_2", "num_thousand_many"]


def test_russian_years_end_in_a_genitive_ordinal():
    assert say_date(date(2000, 5, 9), "ru", year=True)[2:] == ["ru_ordg_2000", "ru_goda"]  # двухтысячного года
    assert say_date(date(1900, 5, 9), "ru", year=True)[2:] == ["num_thousand_one", "ru_ordg_900", "ru_goda"]
    assert say_date(date(1991, 5, 9), "ru", year=True)[2:] == [
        "num_thousand_one", "num_900", "num_90", "ru_ordg_1", "ru_goda"]
    assert say_date(date(2010, 5, 9), "ru", year=True)[2:] == ["ru_dva_f", "num_thousand_few", "ru_ordg_10",
                                                               "ru_goda"]


@pytest.mark.parametrize("lang", ["en", "zh", "ru"])
def test_every_date_and_time_uses_only_prompts_of_the_catalogue(lang):
    cat = load_catalog(lang)
    used: set[str] = set()
    for day in range(1, 32):
        used.update(say_date(date(2024, 1 + day % 12, min(day, 28 if day % 12 == 1 else 30)), lang, year=True))
    for year in (1999, 2000, 2001, 2010, 2019, 2024, 2099, 2100, 1900):
        used.update(say_date(date(year, 12, 31), lang, year=True))
    for hour in range(24):
        for minute in range(60):
            used.update(say_clock(hour, minute, lang))
    for days in range(0, 10):
        used.update(say_time(datetime(2024, 3, 13 - days, 8, 15), lang, now=NOW))
    assert used <= set(cat.prompts)


def test_durations_leave_out_zero_parts():
    assert say_duration(80, "en") == ["digit_1", "minute_one", "num_20", "second_many"]
    assert say_duration(3600, "zh") == ["digit_1", "hour_many"]
    assert say_duration(120, "ru") == ["ru_dva_f", "minute_few"]
    assert say_duration(0, "en") == ["digit_0", "second_many"]


def test_a_language_without_composer_is_spoken_with_english_rules(caplog):
    assert say_number(21, "de") == ["num_20", "digit_1"]
    assert "de" in caplog.text
