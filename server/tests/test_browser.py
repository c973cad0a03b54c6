"""The try-it page in headless Chromium (Debian's chromium, chromium-driver,
python3-selenium): upload a real X-ray, wait for the top class and the
overlay, move the opacity slider, explain another class. Saves a screenshot
in the build directory. Exits 77 (skipped) only when the browser cannot start."""
import os
import sys
import time

import serverlib as sl

SKIP = 77
WAIT = 60  # seconds for any page event


def start_browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        print("SKIP: python3-selenium is not installed (%s)" % e)
        sys.exit(SKIP)
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1100,1300", "--no-proxy-server", "--disable-extensions",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run"):
        opts.add_argument(a)
    if os.path.exists("/usr/bin/chromium"):
        opts.binary_location = "/usr/bin/chromium"
    driver_path = "/usr/bin/chromedriver"
    try:
        service = Service(driver_path) if os.path.exists(driver_path) else Service()
        return webdriver.Chrome(service=service, options=opts)
    except Exception as e:  # WebDriverException, missing binaries, no display...
        print("SKIP: chromium cannot start here: %s" % str(e).strip().splitlines()[0])
        sys.exit(SKIP)


def wait_for(what, cond):
    t0 = time.monotonic()
    while time.monotonic() - t0 < WAIT:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def main():
    images = sl.real_images(per_class=1)
    if not images:
        print("SKIP: no X-rays under %s" % sl.SHARED)
        return SKIP
    with sl.Server("--workers", "1") as srv:
        expected = {}
        for cls, path in images:
            _, _, r = srv.classify(sl.read(path))
            assert r["top"] == cls, (path, r["top"])
            expected[path] = r
        browser = start_browser()
        try:
            run(browser, srv, images, expected)
        finally:
            browser.quit()
        status = srv.stop()
        assert status == 0, "server exited with %s:\n%s" % (status, "".join(srv.log))
    print("browser test passed")
    return 0


def run(b, srv, images, expected):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    find = lambda sel: b.find_element(By.CSS_SELECTOR, sel)
    b.get(srv.url("/"))
    wait_for("the layer list from /v1/model", lambda: len(Select(find("#layer")).options) > 1)
    assert Select(find("#layer")).first_selected_option.text == "layer4"

    overlay_src = ""
    for cls, path in images:  # several in a row fill the gallery
        find("#file").send_keys(os.path.abspath(path))
        wait_for("#top-class = " + cls, lambda: find("#top-class").text == cls and
                 find("#overlay").get_attribute("src") != overlay_src)
        overlay_src = find("#overlay").get_attribute("src")
        wait_for("#overlay to load", lambda: b.execute_script(
            "const i = document.getElementById('overlay');"
            "return i.complete && i.naturalWidth > 0;"))
        bars = b.find_elements(By.CSS_SELECTOR, "#probs .bar")
        assert [e.get_attribute("data-class") for e in bars] == list(expected[path]["probabilities"])
        shown = find("#probs .bar.top .p").text
        assert shown == "%.1f%%" % (100 * expected[path]["probabilities"][cls]), shown
        # The overlay is the X-ray's own size (PNG or JPEG, EXIF orientation applied).
        w, h = b.execute_script("const i = document.getElementById('overlay');"
                                "return [i.naturalWidth, i.naturalHeight];")
        from PIL import Image, ImageOps
        assert (w, h) == ImageOps.exif_transpose(Image.open(path)).size, (path, w, h)
    assert len(b.find_elements(By.CSS_SELECTOR, "#gallery li")) == len(images)
    assert "Not a medical device" in find("footer").text
    assert "ms on the server" in find("#timing").text
    assert "overlay image" in find("#timing").text

    # The slider sets the overlay's opacity.
    slider = find("#opacity")
    b.execute_script("arguments[0].value = 80;"
                     "arguments[0].dispatchEvent(new Event('input'));", slider)
    wait_for("opacity 0.8", lambda: b.execute_script(
        "return getComputedStyle(document.getElementById('overlay')).opacity;") == "0.8")
    from selenium.webdriver.common.keys import Keys
    slider.send_keys(Keys.ARROW_LEFT)
    wait_for("opacity 0.79", lambda: find("#opacity-value").text == "79%")

    # Explain another class: the heatmap changes, the top class does not.
    cls, path = images[-1]
    other = next(c for c in expected[path]["probabilities"] if c != cls)
    before = find("#overlay").get_attribute("src")
    Select(find("#explain-class")).select_by_value(other)
    wait_for("a heatmap of " + other, lambda: ("of %s " % other) in find("#explained").text)
    assert find("#top-class").text == cls
    assert find("#overlay").get_attribute("src") != before

    # Another layer and method.
    Select(find("#layer")).select_by_value("layer3")
    Select(find("#method")).select_by_value("layercam")
    wait_for("layercam at layer3.1", lambda: "layercam" in find("#explained").text and
             "layer3.1" in find("#explained").text)

    # A file that is not an image gives a readable error, not a broken page.
    bad = os.path.join(os.environ.get("CC_OUT_DIR", "."), "not-an-image.png")
    with open(bad, "wb") as f:
        f.write(b"this is not a PNG")
    find("#file").send_keys(bad)
    wait_for("the error message", lambda: "not a supported image" in find("#status").text)
    Select(find("#explain-class")).select_by_value("")

    # Back to a real result, with the defaults, for the screenshot.
    find("#gallery li").click()
    wait_for("#top-class", lambda: find("#top-class").text == cls)
    assert find("#status").text == ""
    Select(find("#layer")).select_by_value("layer4")
    Select(find("#method")).select_by_value("gradcam")
    Select(find("#explain-class")).select_by_value("")
    wait_for("gradcam of the top class", lambda: ("gradcam of %s " % cls) in find("#explained").text)
    b.execute_script("arguments[0].value = 50;"
                     "arguments[0].dispatchEvent(new Event('input'));", slider)
    shot = os.path.join(os.environ.get("CC_OUT_DIR", "."), "server-page.png")
    b.save_screenshot(shot)
    print("screenshot:", shot)
    # Readable on a phone: no horizontal scrolling at 390 px.
    b.set_window_size(390, 844)
    wait_for("the narrow layout", lambda: b.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth;"))
    b.save_screenshot(os.path.join(os.environ.get("CC_OUT_DIR", "."), "server-page-phone.png"))

    # A real film shows no doubt; its negative is warned about on the page.
    find("#gallery li").click()
    wait_for("#top-class", lambda: find("#top-class").text == cls)
    assert not find("#trust").is_displayed()
    from PIL import Image, ImageOps
    inverted = os.path.join(os.environ.get("CC_OUT_DIR", "."), "inverted.png")
    ImageOps.invert(Image.open(images[0][1]).convert("L")).save(inverted)
    find("#file").send_keys(inverted)
    wait_for("the inverted-film warning", lambda: find("#trust").is_displayed() and
             "likely_inverted" in find("#trust").text)


if __name__ == "__main__":
    sys.exit(main())
