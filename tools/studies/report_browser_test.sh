#!/usr/bin/env bash
# report_browser_test.sh — `vmbsim report` in a real browser.
#
# Goal: the HTML report renders in Chromium with every chart drawn: a chart
# per metric and swept axis, the expected number of series per chart, every
# point and every confidence band with a nonzero rendered size. Method: a
# sweep with 3 x 2 points (10 metrics charted, each against the latency with
# 2 series of 3 points and against the request count with 3 series of 2), its report
# opened in headless Chromium (Debian's `chromium`) with a checking script
# added to a copy of the page (the report itself has no script); the script
# measures the SVG elements' rendered boxes and writes what it found into the
# DOM, which Chromium dumps. A screenshot of the report is kept as a test
# artifact (report.png in the test's undeclared outputs). The same for one
# run's page (`run --html`, run.png): every histogram bar, every VP's level
# bar and activity row drawn.
#
# Chromium comes with the project's set-up (tools/bootstrap); where it is
# still missing the test installs it with apt-get when it runs as root
# (about 120 MB), otherwise it prints "SKIPPED: <why>" and passes.
#
# Usage: report_browser_test.sh VMBSIM (from the runfiles root).
set -uo pipefail
vmbsim=$(realpath "$1")
export VMBSIM_SCENARIO_DIR=$PWD/scenarios
skip() { echo "SKIPPED: $*"; exit 0; }
if ! command -v chromium >/dev/null; then
  [[ $(id -u) -eq 0 ]] || skip "chromium is not installed and installing it needs root"
  export DEBIAN_FRONTEND=noninteractive
  # Another test may be installing at the same time: wait for the dpkg lock.
  apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends chromium >/dev/null 2>&1 ||
    { apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null 2>&1 && apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends chromium >/dev/null 2>&1; } ||
    skip "cannot install chromium with apt-get"
fi
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/browser.XXXXXX")
cd "$work"
export HOME=$work
"$vmbsim" sweep dispatch_vs_passive --grid channels.1.interrupt_latency_100ns=0,500,1000 \
  --grid workloads.0.requests=500,1000 --seeds 3 --jobs 2 --out results >/dev/null 2>&1 || { echo "FAIL: sweep exit $?"; exit 1; }
"$vmbsim" report results -o report.html >/dev/null || { echo "FAIL: report exit $?"; exit 1; }
charts=$(grep -c '<svg class="chart"' report.html)
[[ $charts -eq 20 ]] || { echo "FAIL: expected 20 charts (10 metrics: 4 per channel, 2 run-wide; x 2 axes), found $charts"; exit 1; }

cat >check.html.part <<'JS'
<script>
const found = [];
for (const svg of document.querySelectorAll('svg.chart')) {
  const series = [...svg.querySelectorAll('g.series')];
  const drawn = (e) => { const b = e.getBBox(); return b.width > 0 || b.height > 0; };
  const points = series.map(g => [...g.querySelectorAll('circle.point')].filter(drawn).length);
  const bands = series.filter(g => { const p = g.querySelector('path.band'); return p !== null && drawn(p); }).length;
  const box = svg.getBoundingClientRect();
  found.push(svg.dataset.metric + ' x=' + svg.dataset.x + ' series=' + series.length + ' points=' + points.join('+') +
             ' bands=' + bands + ' shown=' + (box.width > 0 && box.height > 0));
}
const pre = document.createElement('pre');
pre.id = 'dom-check';
pre.textContent = found.join('\n');
document.body.appendChild(pre);
</script>
JS
awk '/<\/body>/ { while ((getline line < "check.html.part") > 0) print line } { print }' report.html >checked.html
chrome=(chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run)
timeout 120 "${chrome[@]}" --dump-dom "file://$work/checked.html" >dom.html 2>chrome.log ||
  { echo "FAIL: chromium --dump-dom exit $?"; tail -5 chrome.log; exit 1; }
sed -n '/<pre id="dom-check">/,/<\/pre>/p' dom.html | sed 's/<[^>]*>//g' | grep . >found.txt
cat found.txt
[[ $(wc -l <found.txt) -eq 20 ]] || { echo "FAIL: the rendered DOM has $(wc -l <found.txt) charts, expected 20"; exit 1; }
latency=$(grep -c ' x=channels.1.interrupt_latency_100ns series=2 points=3+3 bands=2 shown=true$' found.txt)
[[ $latency -eq 10 ]] ||
  { echo "FAIL: $latency of 10 charts against the latency have 2 series of 3 drawn points and 2 bands"; exit 1; }
requests=$(grep -c ' x=workloads.0.requests series=3 points=2+2+2 bands=3 shown=true$' found.txt)
[[ $requests -eq 10 ]] ||
  { echo "FAIL: $requests of 10 charts against the request count have 3 series of 2 drawn points and 3 bands"; exit 1; }
grep -q '^passive.rtt_p99_ns x=workloads.0.requests ' found.txt ||
  { echo "FAIL: no chart of passive.rtt_p99_ns against the request count"; exit 1; }

# One run's page (`run --html`): every histogram bar, every VP's level bar
# and the activity cells drawn.
"$vmbsim" run dispatch_vs_passive --html run.html >/dev/null || { echo "FAIL: run --html exit $?"; exit 1; }
cat >run-check.html.part <<'JS'
<script>
const lines = [];
const drawn = (e) => { const b = e.getBBox(); return b.width > 0 || b.height > 0; };
for (const svg of document.querySelectorAll('svg.histogram')) {
  const bars = [...svg.querySelectorAll('rect.bar')].filter(drawn).length;
  lines.push('histogram ' + svg.dataset.metric + ' bars=' + bars + '/' + svg.dataset.bars);
}
for (const svg of document.querySelectorAll('svg.vp-levels, svg.activity')) {
  const rows = [...svg.querySelectorAll('g.vp')];
  const filled = rows.filter(g => [...g.querySelectorAll('rect')].some(drawn)).length;
  lines.push(svg.getAttribute('class') + ' rows=' + rows.length + '/' + svg.dataset.vps + ' filled=' + filled);
}
const pre = document.createElement('pre');
pre.id = 'dom-check';
pre.textContent = lines.join('\n');
document.body.appendChild(pre);
</script>
JS
awk '/<\/body>/ { while ((getline line < "run-check.html.part") > 0) print line } { print }' run.html >run-checked.html
timeout 120 "${chrome[@]}" --dump-dom "file://$work/run-checked.html" >run-dom.html 2>>chrome.log ||
  { echo "FAIL: chromium --dump-dom (run page) exit $?"; tail -5 chrome.log; exit 1; }
sed -n '/<pre id="dom-check">/,/<\/pre>/p' run-dom.html | sed 's/<[^>]*>//g' | grep . >run-found.txt
cat run-found.txt
[[ $(grep -c '^histogram ' run-found.txt) -eq 4 ]] || { echo "FAIL: expected 4 histograms on the run page"; exit 1; }
bad=$(grep '^histogram ' run-found.txt | awk '{ split($3, b, /[=\/]/); if (b[2] != b[3] || b[2] == 0) print }' | wc -l)
[[ $bad -eq 0 ]] || { echo "FAIL: $bad histogram(s) with bars not drawn"; exit 1; }
grep -q '^vp-levels rows=\([0-9]*\)/\1 filled=\1$' run-found.txt || { echo "FAIL: VP level bars not all drawn"; exit 1; }
grep -q '^activity rows=\([0-9]*\)/\1 filled=\1$' run-found.txt || { echo "FAIL: activity rows not all drawn"; exit 1; }
run_shot=${TEST_UNDECLARED_OUTPUTS_DIR:-$work}/run.png
timeout 120 "${chrome[@]}" --window-size=1000,2400 --screenshot="$run_shot" "file://$work/run.html" >>chrome.log 2>&1 ||
  { echo "FAIL: chromium --screenshot (run page) exit $?"; exit 1; }
[[ -s "$run_shot" ]] || { echo "FAIL: no screenshot of the run page"; exit 1; }

shot=${TEST_UNDECLARED_OUTPUTS_DIR:-$work}/report.png
timeout 120 "${chrome[@]}" --window-size=1000,2400 --screenshot="$shot" "file://$work/report.html" >>chrome.log 2>&1 ||
  { echo "FAIL: chromium --screenshot exit $?"; tail -5 chrome.log; exit 1; }
[[ -s "$shot" ]] || { echo "FAIL: no screenshot"; exit 1; }
echo "screenshot: $shot ($(stat -c %s "$shot") bytes)"
echo PASS
