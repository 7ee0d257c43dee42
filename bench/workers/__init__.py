"""Figure 10's distributed searches: the processes, plain and with local workers, and a worker
killed mid-trial (``runs``), and the pure arithmetic on their logs (``events``).
"""
